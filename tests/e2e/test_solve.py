"""Every experiment's solve.py trains its full-size net on synthetic data in the real
layout: a few iterations from transplanted weights, a score round, a snapshot, and a
resume from that snapshot."""
import glob
import json
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

from torchcaffe.formats import binaryproto, read_weights
from torchcaffe.io import array_to_blobproto, blobproto_to_array
from torchcaffe.proto import caffe_pb2
import refcaffe
from fcn import synthetic

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXPERIMENTS = sorted(os.path.basename(os.path.dirname(p))
                     for p in glob.glob(os.path.join(ROOT, '*', 'solve.py')))
VGG = {'conv1_1': [(64, 3, 3, 3), (64,)], 'conv1_2': [(64, 64, 3, 3), (64,)]}
FIRST_LAYERS = {'voc-fcn-alexnet': {'conv1': [(96, 3, 11, 11), (96,)]},
                'voc-fcn-googlenet': {'conv1/7x7_s2': [(64, 3, 7, 7), (64,)]}}
# Initial weights per experiment: {suffix: layers}; the late fusion net takes two streams.
SOURCES = {'nyud-fcn32s-color-hha': {'color': VGG, 'hha': VGG}}
HEADS = {'siftflow': ['score_sem', 'score_geo']}


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('data')
    for dataset in ('voc', 'sbd', 'nyud', 'siftflow', 'context'):
        synthetic.main([dataset, '--out', str(root), '--n', '8'])
    return str(root)


def write_source(path, layers, seed):
    """A caffemodel holding random weights for ``layers`` ({name: [shapes]})."""
    rng = np.random.RandomState(seed)
    net = caffe_pb2.NetParameter(name='source')
    for name, shapes in layers.items():
        layer = net.layer.add(name=name, type='Convolution')
        for shape in shapes:
            layer.blobs.add().CopyFrom(array_to_blobproto(rng.randn(*shape).astype(np.float32) * 0.01))
    binaryproto.write(path, net)


def params_of(path):
    return {l.name: [blobproto_to_array(b) for b in l.blobs] for l in read_weights(path).layer}


def solve(experiment, cwd, *args, env=None):
    script = os.path.join(ROOT, experiment, 'solve.py')
    r = subprocess.run([sys.executable, script, '--display', '1', *args], cwd=cwd, env=env,
                       capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    return r.stdout


def records(out):
    with open(os.path.join(out, 'log.jsonl')) as f:
        return [json.loads(line) for line in f]


@pytest.mark.parametrize('experiment', EXPERIMENTS)
def test_solve_trains_scores_snapshots_and_resumes(experiment, data_root, tmp_path):
    sources = SOURCES.get(experiment, {'': FIRST_LAYERS.get(experiment, VGG)})
    files = []
    for k, (suffix, layers) in enumerate(sources.items()):
        files.append(str(tmp_path / ('source%d.caffemodel' % k)))
        write_source(files[-1], layers, k)
    out = str(tmp_path / 'out')
    common = ['--data-root', data_root, '--out', out]
    # from inside the experiment directory for one half, from elsewhere for the other
    cwd = os.path.join(ROOT, experiment) if EXPERIMENTS.index(experiment) % 2 else str(tmp_path)
    stdout = solve(experiment, cwd, '--weights', *files, '--iters', '2', '--score-every', '2',
                   '--snapshot-every', '2', *common)
    by_name = len(next(iter(sources.values()))) - (experiment == 'nyud-fcn32s-color-d')  # its hook does conv1_1
    assert 'init: %d layers from' % by_name in stdout
    log = records(out)
    assert [r['iter'] for r in log if 'loss' in r] == [1, 2]
    scores = [r for r in log if 'scores' in r]
    assert len(scores) == 1 and scores[0]['iter'] == 2
    heads = HEADS.get(experiment.split('-')[0], ['score'])
    assert sorted(scores[0]['scores']) == sorted(heads)
    for head in heads:
        assert 0 <= scores[0]['scores'][head]['overall_acc'] <= 1
    assert os.path.getsize(os.path.join(out, 'charts', 'curves.png')) > 0
    snapshot = os.path.join(out, 'train_iter_2.caffemodel')
    learned = params_of(snapshot)
    for (suffix, layers), source in zip(sources.items(), files):
        for name, arrays in params_of(source).items():
            target = 'conv1_1_bgrd' if experiment == 'nyud-fcn32s-color-d' and name == 'conv1_1' \
                else name + suffix
            got = learned[target][0]
            want = arrays[0] if got.shape == arrays[0].shape else np.concatenate(
                [arrays[0], arrays[0].mean(1, keepdims=True)], 1)  # color-d's depth filters
            np.testing.assert_allclose(got, want, atol=1e-6)

    solve(experiment, ROOT, '--resume', os.path.join(out, 'train_iter_2.solverstate'), '--iters', '3',
          '--score-every', '0', *common)
    assert [r['iter'] for r in records(out) if 'loss' in r] == [1, 2, 3]
    assert os.path.isfile(os.path.join(out, 'train_iter_3.caffemodel'))
    shutil.rmtree(out)  # full-size snapshots are about 1 GB each


def test_voc_fcn8s_solves_on_real_caffe(pycaffe, data_root, tmp_path):
    """FCN_BACKEND=caffe python voc-fcn8s/solve.py: BVLC Caffe trains, scores and snapshots."""
    source = str(tmp_path / 'source.caffemodel')
    write_source(source, VGG, 0)
    out = str(tmp_path / 'out')
    env = dict(refcaffe.env(), FCN_BACKEND='caffe')
    stdout = solve('voc-fcn8s', str(tmp_path), '--weights', source, '--iters', '1', '--score-every', '1',
                   '--data-root', data_root, '--out', out, env=env)
    assert 'backend: caffe' in stdout, stdout[-2000:]
    assert [r['iter'] for r in records(out) if 'scores' in r] == [1]
    np.testing.assert_allclose(params_of(os.path.join(out, 'train_iter_1.caffemodel'))['conv1_1'][0],
                               params_of(source)['conv1_1'][0], atol=1e-6)
    shutil.rmtree(out)


def test_missing_initial_weights_point_to_surgery(tmp_path):
    r = subprocess.run([sys.executable, os.path.join(ROOT, 'voc-fcn32s', 'solve.py'), '--weights',
                        str(tmp_path / 'nope.caffemodel'), '--out', str(tmp_path)],
                       capture_output=True, text=True)
    assert r.returncode != 0
    assert 'nope.caffemodel not found' in r.stderr and 'surgery.py ilsvrc-to-fcn --arch vgg16' in r.stderr


def test_other_solver_paths_resolve_from_its_directory(tmp_path):
    from fcn import train
    preset = tmp_path / 'preset'
    preset.mkdir()
    (preset / 'solver.prototxt').write_text('train_net: "train.prototxt"\ntest_net: "/abs/val.prototxt"\n'
                                            'base_lr: 0.1\nsnapshot: 7\nsnapshot_prefix: "x/y"\n')
    out = tmp_path / 'out'
    out.mkdir()
    path, param, every = train.solver_file(str(preset / 'solver.prototxt'), str(out), None)
    assert param.train_net == str(preset / 'train.prototxt') and list(param.test_net) == ['/abs/val.prototxt']
    assert every == 7 and param.snapshot == 0 and param.snapshot_prefix == 'train'  # relative to out
    assert os.path.dirname(path) == str(out)
