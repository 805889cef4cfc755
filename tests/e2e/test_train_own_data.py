"""``fcn train`` on folders of images and masks: the run directory, resuming, the val split,
weights of another class count, and a clear error for each kind of bad data.

Most runs use a narrow VGG16 trunk (same layers and strides, few channels) patched into
nets.vgg, so they take seconds; one AlexNet run goes through the real command at full size.
"""
import ast
import contextlib
import functools
import io
import json
import os
import re
import shutil
import signal
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

import refcaffe
import torchcaffe
from fcn import custom, datasets, synthetic, train
from nets import custom as custom_nets
from nets import vgg, voc
from torchcaffe.formats import binaryproto, prototxt, read_net
from torchcaffe.io import array_to_blobproto
from torchcaffe.proto import caffe_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NARROW = dict(widths=(4, 8, 8, 16, 16), depths=(1,) * 5, fc=16)
CLASSES = ('background', 'disc', 'square')


def make_pairs(directory, n, size=(32, 32), seed=0, objects=2):
    """``n`` synthetic pictures (jpg) and masks (palette PNG, classes 0..objects) under ``directory``."""
    images, masks = os.path.join(directory, 'images'), os.path.join(directory, 'masks')
    for k in range(n):
        rgb, label = synthetic.render(seed, k, size, objects)
        synthetic.save_image(rgb, os.path.join(images, 'p%02d.jpg' % k), quality=90)
        datasets.save_label_png(label, os.path.join(masks, 'p%02d.png' % k))
    return images, masks


def write_classes(path, names):
    with open(path, 'w') as f:
        f.write('\n'.join(names) + '\n')
    return str(path)


def fcn_train(*argv):
    """fcn.custom.main in this process; its stdout."""
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        custom.main([str(a) for a in argv])
    return out.getvalue()


def fails(*argv):
    """The message fcn train exits with."""
    with pytest.raises(SystemExit) as info:
        fcn_train(*argv)
    return str(info.value.code)


def records(run):
    with open(os.path.join(run, 'log.jsonl')) as f:
        return [json.loads(line) for line in f]


def files(directory):
    return sorted(os.listdir(directory))


def params(path):
    return train.read_params(str(path))


@pytest.fixture(scope='module')
def narrow():
    """A narrow VGG16 trunk in every net built here; FCN_DATA_ROOT (train.run sets it) restored."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(vgg, 'trunk', functools.partial(vgg.trunk, **NARROW))
        mp.setenv('FCN_DATA_ROOT', os.environ.get('FCN_DATA_ROOT', ''))
        yield


@pytest.fixture(scope='module')
def data(tmp_path_factory):
    """12 pairs of 32x32 pictures and masks of three classes."""
    base = str(tmp_path_factory.mktemp('own'))
    images, masks = make_pairs(base, 12)
    return {'base': base, 'images': images, 'masks': masks,
            'classes': write_classes(os.path.join(base, 'classes.txt'), CLASSES)}


def given(data, net='fcn32s'):
    return ['--images', data['images'], '--masks', data['masks'], '--classes', data['classes'], '--net', net]


SCHEDULE = ['--score-every', 3, '--snapshot-every', 2, '--seed', 1]


@pytest.fixture(scope='module')
def run(data, narrow):
    """A 6-iteration FCN-32s run from scratch: (run directory, stdout)."""
    out = os.path.join(data['base'], 'run')
    return out, fcn_train(*given(data), '--iters', 6, *SCHEDULE, '--out', out)


def test_a_run_directory_holds_nets_snapshots_best_weights_log_charts_and_card(run):
    out, stdout = run
    assert files(out) == ['best.caffemodel', 'best.json', 'charts', 'log.csv', 'log.jsonl', 'model.json',
                          'net', 'snapshots']  # the lock is gone
    assert files(os.path.join(out, 'net')) == ['deploy.prototxt', 'settings.json', 'solver.prototxt',
                                               'train.prototxt', 'train.txt', 'val.prototxt', 'val.txt']
    # only the newest snapshot stays (2 and 4 were pruned)
    assert [f for f in files(os.path.join(out, 'snapshots')) if 'iter' in f] == [
        'train_iter_6.caffemodel', 'train_iter_6.rngstate', 'train_iter_6.solverstate', 'train_iter_6.train.json']
    assert files(os.path.join(out, 'charts')) == ['confusion.png', 'curves.png', 'per_class_iou.png']

    net = {layer.name: layer for layer in read_net(os.path.join(out, 'net', 'train.prototxt')).layer}
    data_layer = net['data'].python_param
    assert (data_layer.module, data_layer.layer) == ('fcn.layers', 'FolderSegDataLayer')
    param_str = ast.literal_eval(data_layer.param_str)
    assert param_str['split'] == 'net/train.txt' and param_str['num_classes'] == 3 and param_str['randomize']
    assert net['score_fr'].convolution_param.num_output == 3
    assert net['conv1_1'].convolution_param.weight_filler.type == 'msra'
    assert not net['score_fr'].convolution_param.HasField('weight_filler')  # FCN's zero init
    assert net['loss'].loss_param.normalize  # from scratch: averaged over the pixels
    solver = prototxt.read(os.path.join(out, 'net', 'solver.prototxt'), caffe_pb2.SolverParameter)
    assert (solver.base_lr, solver.momentum) == (pytest.approx(1e-4), pytest.approx(0.9))
    assert (solver.train_net, list(solver.test_net)) == ('train.prototxt', ['val.prototxt'])

    train_ids, val_ids = (open(os.path.join(out, 'net', s + '.txt')).read().split() for s in ('train', 'val'))
    assert len(val_ids) == 2 and sorted(train_ids + val_ids) == ['p%02d' % k for k in range(12)]

    log = records(out)
    assert [r['iter'] for r in log if 'scores' in r] == [3, 6]
    assert [r['iter'] for r in log if 'loss' in r] == [1, 2, 3, 4, 5, 6]
    best = json.load(open(os.path.join(out, 'best.json')))
    assert best['iter'] in (3, 6) and best['mean_iu'] == max(r['scores']['score']['mean_iu']
                                                              for r in log if 'scores' in r)
    card = json.load(open(os.path.join(out, 'model.json')))
    assert card['classes'] == list(CLASSES) and card['weights'] == 'best.caffemodel'
    assert card['deploy'] == 'net/deploy.prototxt' and card['input_size'] == [32, 32]

    assert 'training from scratch' in stdout
    for name in CLASSES:  # the per-class table names the classes, at each scoring
        assert len(re.findall(r'^    %s +\d\.\d{4} +\d\.\d{4} +\d+$' % name, stdout, re.M)) == 2
    assert 'best: mean IU' in stdout and 'model card: %s' % os.path.join(out, 'model.json') in stdout


def test_the_run_labels_an_image_through_its_model_card(run, data):
    import fcn
    out, _ = run
    model = fcn.load(out)
    labels = model.predict(os.path.join(data['images'], 'p00.jpg'))
    assert labels.shape == (32, 32) and labels.min() >= 0 and labels.max() < 3
    assert list(model.classes) == list(CLASSES)


def test_resume_continues_a_copied_run_as_if_never_stopped(run, data, tmp_path):
    out, _ = run
    copy = str(tmp_path / 'copy')
    shutil.copytree(out, copy)
    stdout = fcn_train('--resume', '--out', copy, '--iters', 8)
    assert 'resumed from %s at iteration 6' % os.path.join(copy, 'snapshots', 'train_iter_6.solverstate') in stdout
    assert [f for f in files(os.path.join(copy, 'snapshots')) if f.endswith('.caffemodel')] == ['train_iter_8.caffemodel']
    resumed = records(copy)
    assert [r['iter'] for r in resumed if 'scores' in r] == [3, 6, 8]
    assert json.load(open(os.path.join(copy, 'net', 'settings.json')))['iters'] == 8
    assert json.load(open(os.path.join(out, 'net', 'settings.json')))['iters'] == 6  # the original is untouched

    straight = str(tmp_path / 'straight')
    fcn_train(*given(data), '--iters', 8, *SCHEDULE, '--out', straight)
    losses = [[r['loss'] for r in records(d) if 'loss' in r] for d in (straight, copy)]
    np.testing.assert_allclose(losses[1], losses[0], rtol=1e-5)

    # at its target already: nothing trained, the card rewritten
    assert 'is at iteration 8 already' in fcn_train('--resume', '--out', copy)


def test_a_run_is_not_overwritten_nor_resumed_with_other_settings(run, data, tmp_path):
    out, _ = run
    assert 'holds a run already: add --resume' in fails(*given(data), '--out', out)
    assert 'these differ: --net fcn8s (the run has fcn32s)' in fails('--resume', '--net', 'fcn8s', '--out', out)
    other = tmp_path / 'other'
    other.mkdir()
    (other / 'notes.txt').write_text('mine')
    assert 'is not empty' in fails(*given(data), '--out', other)
    assert 'a new run needs --classes, --net' in fails('--images', data['images'], '--masks', data['masks'],
                                                     '--out', tmp_path / 'new')
    with open(os.path.join(out, 'lock'), 'w') as f:  # a live process holds it
        json.dump({'pid': os.getppid(), 'host': __import__('socket').gethostname()}, f)
    try:
        assert 'is in use by process %d' % os.getppid() in fails('--resume', '--out', out)
    finally:
        os.remove(os.path.join(out, 'lock'))


def _bad_value(images, masks):
    mask = np.array(Image.open(os.path.join(masks, 'p01.png')))
    mask[0, :3] = 7
    datasets.save_label_png(mask, os.path.join(masks, 'p01.png'))


def _bad_size(images, masks):
    Image.open(os.path.join(masks, 'p01.png')).crop((0, 0, 16, 12)).save(os.path.join(masks, 'p01.png'))


def _garbage(path):
    with open(path, 'wb') as f:
        f.write(b'not an image at all')


def _rgb_mask(images, masks):
    Image.open(os.path.join(masks, 'p01.png')).convert('RGB').save(os.path.join(masks, 'p01.png'))


def _jpeg_mask(images, masks):
    Image.open(os.path.join(masks, 'p01.png')).convert('L').save(os.path.join(masks, 'p01.jpg'))
    os.remove(os.path.join(masks, 'p01.png'))


BAD_DATA = {
    'a mask value past the classes': (_bad_value, r'mask \S+/masks/p01\.png has value 7 but there are 3 classes'),
    'sizes that differ': (_bad_size, r'image \S+/images/p01\.jpg is 16x16 but its mask \S+/masks/p01\.png is 16x12'),
    'an image without a mask': (lambda i, m: os.remove(os.path.join(m, 'p01.png')),
                                r'image \S+/images/p01\.jpg has no mask \(expected \S+/masks/p01\.png\)'),
    'a mask without an image': (lambda i, m: shutil.copy(os.path.join(m, 'p01.png'), os.path.join(m, 'extra.png')),
                                r'mask \S+/masks/extra\.png has no image'),
    'an unreadable image': (lambda i, m: _garbage(os.path.join(i, 'p01.jpg')), r'cannot read image \S+/images/p01\.jpg'),
    'an image beyond Pillow\'s pixel limit': (lambda i, m: Image.new('1', (13400, 13400)).save(
        os.path.join(i, 'p01.jpg'), format='PNG'), r'cannot read image \S+/images/p01\.jpg: Image size \(179560000 '),
    'an unreadable mask': (lambda i, m: _garbage(os.path.join(m, 'p01.png')), r'cannot read mask \S+/masks/p01\.png'),
    'an RGB mask': (_rgb_mask, r"mask \S+/masks/p01\.png is a RGB image, not class indices: save masks as palette \('P'\)"),
    'a JPEG mask': (_jpeg_mask, r'mask \S+/masks/p01\.jpg is not a PNG'),
    'an empty folder': (lambda i, m: [os.remove(os.path.join(i, f)) for f in os.listdir(i)], r'no images in \S+/images'),
    'two problems': (lambda i, m: (_bad_value(i, m), os.remove(os.path.join(m, 'p02.png'))),
                     r'^error: 2 problems in the data:\n  image \S+/p02\.jpg has no mask.*\n  mask \S+/p01\.png has value 7'),
}


@pytest.mark.parametrize('case', BAD_DATA)
def test_bad_data_is_named_before_anything_is_written(case, tmp_path):
    change, message = BAD_DATA[case]
    images, masks = make_pairs(str(tmp_path), 4, size=(16, 16))
    change(images, masks)
    out = tmp_path / 'run'
    text = fails('--images', images, '--masks', masks, '--net', 'fcn32s', '--out', out,
                 '--classes', write_classes(tmp_path / 'classes.txt', CLASSES))
    assert re.search(message, text), text
    assert not out.exists()  # checked whole before the run directory is made


@pytest.mark.parametrize('names, message', [
    (('background', 'cat', 'background'), "lists 'background' twice"),
    (('background',), 'lists 1 class name(s); segmentation needs at least 2'),
])
def test_bad_class_lists_are_refused(names, message, data, tmp_path):
    text = fails('--images', data['images'], '--masks', data['masks'], '--net', 'fcn32s', '--out', tmp_path / 'run',
                 '--classes', write_classes(tmp_path / 'classes.txt', names))
    assert message in text and str(tmp_path / 'classes.txt') in text


def test_the_command_exits_with_the_message(tmp_path):
    images, masks = make_pairs(str(tmp_path), 2, size=(16, 16))
    _bad_value(images, masks)
    r = subprocess.run([sys.executable, '-m', 'fcn', 'train', '--images', images, '--masks', masks, '--net', 'alexnet',
                        '--classes', write_classes(tmp_path / 'c.txt', CLASSES), '--out', str(tmp_path / 'run')],
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1 and re.search(r'^error: mask \S+p01\.png has value 7 but there are 3 classes', r.stderr)


def test_val_fraction_folders_or_none(data, narrow, tmp_path):
    out = str(tmp_path / 'half')
    fcn_train(*given(data), '--val-fraction', 0.5, '--iters', 1, '--out', out)
    train_ids, val_ids = (open(os.path.join(out, 'net', s + '.txt')).read().split() for s in ('train', 'val'))
    assert len(train_ids) == len(val_ids) == 6 and not set(train_ids) & set(val_ids)

    val_images, val_masks = make_pairs(str(tmp_path / 'val'), 3, seed=5)
    out = str(tmp_path / 'folders')
    stdout = fcn_train(*given(data), '--val-images', val_images, '--val-masks', val_masks, '--iters', 1, '--out', out)
    assert open(os.path.join(out, 'net', 'val.txt')).read().split() == ['p00', 'p01', 'p02']
    assert len(open(os.path.join(out, 'net', 'train.txt')).read().split()) == 12
    val = ast.literal_eval(read_net(os.path.join(out, 'net', 'val.prototxt')).layer[0].python_param.param_str)
    assert (val['images_dir'], val['randomize']) == (val_images, False)
    assert 'score vs label on 3 images' in stdout

    out = str(tmp_path / 'none')
    stdout = fcn_train(*given(data), '--val-fraction', 0, '--iters', 1, '--out', out)
    assert 'no val data' in stdout and not os.path.exists(os.path.join(out, 'best.caffemodel'))
    assert json.load(open(os.path.join(out, 'model.json')))['weights'] == 'snapshots/train_iter_1.caffemodel'
    assert not os.path.exists(os.path.join(out, 'net', 'val.prototxt'))


def test_weights_of_an_fcn_with_other_classes_carry_over_by_class_name(run, narrow, tmp_path):
    source, _ = run
    names = ('background', 'triangle', 'disc', 'square')
    images, masks = make_pairs(str(tmp_path), 4, objects=3)
    argv = ['--images', images, '--masks', masks, '--classes', write_classes(tmp_path / 'c.txt', names),
            '--net', 'fcn32s', '--iters', 1, '--val-fraction', 0]
    out = str(tmp_path / 'run')
    stdout = fcn_train(*argv, '--weights', os.path.join(source, 'best.caffemodel'), '--out', out)
    assert 'score_fr: classes background, disc, square copied by name; triangle start at zero' in stdout
    assert 'skipped upscore: 3 classes in the weights; made bilinear for 4' in stdout
    assert "solver: the paper's: fixed lr 1e-10" in stdout and 'note: the loss is summed' in stdout
    # what the init copies, on the run's deploy net
    weights = os.path.join(source, 'best.caffemodel')
    net = torchcaffe.Net(os.path.join(out, 'net', 'deploy.prototxt'), torchcaffe.TEST)
    with contextlib.redirect_stdout(io.StringIO()):
        custom.weights_init(weights, names, 'fcn32s')(net)
    old = params(weights)
    np.testing.assert_array_equal(net.params['conv1_1'][0].data, old['conv1_1'][0])
    for blob in (0, 1):
        np.testing.assert_array_equal(net.params['score_fr'][blob].data[[0, 2, 3]], old['score_fr'][blob])
        assert not net.params['score_fr'][blob].data[1].any()
    # as many classes in another order: the rows follow the names
    net = torchcaffe.Net(os.path.join(source, 'net', 'deploy.prototxt'), torchcaffe.TEST)
    with contextlib.redirect_stdout(io.StringIO()):
        custom.weights_init(weights, ['background', 'square', 'disc'], 'fcn32s')(net)
    np.testing.assert_array_equal(net.params['score_fr'][0].data, old['score_fr'][0][[0, 2, 1]])
    # weights of another net altogether
    other = caffe_pb2.NetParameter(name='other')
    other.layer.add(name='conv1', type='Convolution').blobs.add().CopyFrom(
        array_to_blobproto(np.ones((2, 3, 1, 1), np.float32)))
    binaryproto.write(str(tmp_path / 'other.caffemodel'), other)
    with pytest.raises(ValueError, match='no layer of %s fits the net fcn32s' % re.escape(str(tmp_path / 'other.caffemodel'))):
        custom.weights_init(str(tmp_path / 'other.caffemodel'), names, 'fcn32s')(net)

    bare = tmp_path / 'bare'  # no model card beside the weights: no names to match
    bare.mkdir()
    shutil.copy(os.path.join(source, 'best.caffemodel'), bare / 'w.caffemodel')
    stdout = fcn_train(*argv, '--weights', bare / 'w.caffemodel', '--out', tmp_path / 'run2')
    assert 'score_fr: 3 classes in the weights, 4 here, no class names beside the weights to match' in stdout


def test_the_nets_are_the_experiments_for_any_class_count():
    source = dict(images_dir='/i', masks_dir='/m', num_classes=5, split='net/train.txt')
    for arch, theirs in (('fcn16s', voc.fcn_vgg16('train', 16)), ('fcn8s-atonce', voc.fcn_vgg16('train', 8, True)),
                         ('alexnet', voc.fcn_alexnet('train')), ('googlenet', voc.fcn_googlenet('train'))):
        ours = custom_nets.net(arch, 5, source)
        assert [(l.name, l.type, list(l.bottom)) for l in ours.layer[1:]] == \
            [(l.name, l.type, list(l.bottom)) for l in theirs.layer[1:]]
        assert {l.convolution_param.num_output for l in ours.layer if l.type == 'Convolution'
                and l.name.startswith('score_')} == {5}


def test_alexnet_at_full_size_from_the_command_outside_the_checkout(data, tmp_path):
    """The prototxts name module fcn.layers: they run without the repository root on sys.path."""
    out = str(tmp_path / 'run')
    r = subprocess.run([sys.executable, '-m', 'fcn', 'train', *given(data, 'alexnet'), '--iters', '1', '--out', out],
                       cwd=str(tmp_path), capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert 'iteration 1: score vs label on 2 images' in r.stdout
    assert json.load(open(os.path.join(out, 'model.json')))['classes'] == list(CLASSES)


def test_real_caffe_trains_and_resumes_a_run(pycaffe, data, tmp_path):
    script = ('import functools, sys; from nets import vgg; vgg.trunk = functools.partial(vgg.trunk, **%r); '
              'from fcn import custom; custom.main(sys.argv[1:])' % NARROW)
    env = dict(os.environ, PYTHONPATH=refcaffe.python_dir(), GLOG_minloglevel='2')
    out = str(tmp_path / 'run')
    for argv in (given(data) + ['--iters', '2', '--score-every', '2', '--snapshot-every', '1'],
                 ['--resume', '--iters', '3']):
        r = subprocess.run([sys.executable, '-c', script, '--backend', 'caffe', '--out', out] + argv,
                           cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=600)
        assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-2000:]
    assert 'backend: caffe' in r.stdout and 'resumed from' in r.stdout
    assert [r['iter'] for r in records(out) if 'scores' in r] == [2, 3]
    assert os.path.isfile(os.path.join(out, 'best.caffemodel'))


def test_ctrl_c_stops_with_a_snapshot_that_resumes(run, data, tmp_path, monkeypatch, capsys):
    real_train = train.train

    def interrupted(solver, iters, hooks, stop=None):
        def ctrl_c(solver, step):  # as from the terminal, during iteration 4's hooks
            if step['iter'] == 4:
                os.kill(os.getpid(), signal.SIGINT)
        return real_train(solver, iters, [ctrl_c, *hooks], stop)

    monkeypatch.setattr(train, 'train', interrupted)
    out = str(tmp_path / 'stopped')
    with pytest.raises(SystemExit) as info:
        fcn_train(*given(data), '--iters', 8, *SCHEDULE, '--out', out)
    assert info.value.code == 128 + signal.SIGINT
    assert 'SIGINT: stopped after iteration 5; snapshot written; continue with: fcn train --resume --out %s' % out \
        in capsys.readouterr().err
    assert 'train_iter_5.solverstate' in files(os.path.join(out, 'snapshots'))  # off the every-2 schedule
    assert not os.path.exists(os.path.join(out, 'lock'))
    monkeypatch.setattr(train, 'train', real_train)
    assert 'at iteration 5' in fcn_train('--resume', '--out', out)
    assert [r['iter'] for r in records(out) if 'loss' in r][-1] == 8
