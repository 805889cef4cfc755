"""train.py's --train-data and --score-data (data-layer options, loss sampling's iter_size)
and score.py's scoring with data-layer options (inference-time masking)."""
import ast
import json
import math
import os
import subprocess
import sys

import numpy as np
import pytest
import torch

import refcaffe
from fcn import score
from fcn import datasets
from fcn import synthetic
import torchcaffe
from fcn import train
from nets import fcn, vgg, voc, write_prototxts
from nets.blocks import seg_loss
from nets.solvers import sgd
from tiny_nets import TINY
from torchcaffe.net_spec import NetSpec
from torchcaffe.proto import caffe_pb2


def tiny_voc(split):
    """A tiny FCN-32s on the VOC experiment's data layers."""
    n = NetSpec()
    voc.inputs(n, split)
    fcn.head(n, vgg.trunk(n, n.data, **TINY), n.data, voc.CLASSES)
    n.loss = seg_loss(n.score, n.label)
    return n.to_proto()


@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
    """A tiny experiment directory (like voc-fcn32s) and a data root for it."""
    base = tmp_path_factory.mktemp('exp')
    root = str(base / 'data')
    for dataset in ('sbd', 'voc'):
        synthetic.main([dataset, '--out', root, '--n', '6', '--size', '40', '48'])
    exp = base / 'tiny-fcn32s'
    exp.mkdir()
    write_prototxts(str(exp), {'train': tiny_voc('train'), 'val': tiny_voc('seg11valid'),
                               'solver': sgd('train.prototxt', 'val.prototxt', test_iter=3, base_lr=1e-6,
                                             snapshot=0, iter_size=1)})
    return str(exp), root


def param_strs(net):
    return [ast.literal_eval(layer.python_param.param_str) for layer in net.layer
            if layer.type == 'Python' and layer.python_param.module == 'layers']


def test_data_options_are_merged_and_sampling_grows_iter_size(experiment):
    exp, _ = experiment
    param = caffe_pb2.SolverParameter(train_net=os.path.join(exp, 'train.prototxt'),
                                      test_net=[os.path.join(exp, 'val.prototxt')], iter_size=2)
    train.set_data_options(param, {'sample': 0.25, 'mirror': True}, {'mask': 'fg-only'})
    assert param.iter_size == 8  # 1/p times the images per step
    assert not param.HasField('train_net') and not len(param.test_net)
    (trained,), (scored,) = param_strs(param.train_net_param), param_strs(param.test_net_param[0])
    assert trained == {'sbdd_dir': 'sbdd/dataset', 'split': 'train', 'mean': voc.MEAN, 'seed': 1337,
                       'sample': 0.25, 'mirror': True}
    assert scored['mask'] == 'fg-only' and scored['split'] == 'seg11valid'
    param = caffe_pb2.SolverParameter(train_net=os.path.join(exp, 'train.prototxt'))
    train.set_data_options(param, {'sample': 0.3}, None)
    assert param.iter_size == 3  # rounded
    for bad in (0, 1.5, '0.5'):
        with pytest.raises(ValueError, match="'sample' must be a probability"):
            train.set_data_options(caffe_pb2.SolverParameter(train_net=os.path.join(exp, 'train.prototxt')),
                                   {'sample': bad}, None)


@pytest.mark.parametrize('text', ['mirror=True', "['mirror']", '__import__("os")'])
def test_bad_option_literals_are_refused(text, capsys):
    with pytest.raises(SystemExit):
        train.parse_args('', ['--train-data', text])
    assert 'expected a dict literal' in capsys.readouterr().err


def test_resume_with_weights_is_refused(capsys):
    with pytest.raises(SystemExit):
        train.parse_args('', ['--resume', 'out/train_iter_4.solverstate', '--weights', 'w.caffemodel'])
    assert "give --resume or --weights, not both" in capsys.readouterr().err


def test_an_output_directory_that_cannot_be_made_is_an_error_naming_it(experiment, tmp_path):
    exp, root = experiment
    (tmp_path / 'file').write_text('mine')
    out = tmp_path / 'file' / 'out'
    with pytest.raises(SystemExit) as info:
        train.main(exp, [], argv=['--weights', 'none', '--iters', '1', '--data-root', root, '--out', str(out)])
    assert str(info.value.code).startswith('error: ') and str(out) in str(info.value.code)
    assert (tmp_path / 'file').read_text() == 'mine'


def test_a_run_directory_holds_one_run_and_moves_whole(experiment, tmp_path, capsys):
    """A fresh run into an earlier run's --out is refused unless --overwrite; a live lock
    refuses even --resume; snapshots name their weights relative to the run directory, so
    a moved run resumes from its own."""
    from torchcaffe.formats import binaryproto
    exp, root = experiment
    out = str(tmp_path / 'out')
    common = ['--data-root', root, '--out', out, '--display', '1', '--score-every', '2']
    train.main(exp, [], argv=['--weights', 'none', '--iters', '2'] + common)
    before = {name: open(os.path.join(out, name), 'rb').read() for name in os.listdir(out)
              if os.path.isfile(os.path.join(out, name))}
    with pytest.raises(SystemExit) as info:
        train.main(exp, [], argv=['--weights', 'none', '--iters', '1'] + common)
    message = str(info.value.code)
    assert message.startswith('error: %s holds another run (log.jsonl, ' % out)
    assert '--resume' in message and '--overwrite' in message
    assert {name: open(os.path.join(out, name), 'rb').read() for name in before} == before

    with open(os.path.join(out, 'lock'), 'w') as f:  # a live process trains there
        json.dump({'pid': os.getppid(), 'host': __import__('socket').gethostname()}, f)
    state = os.path.join(out, 'train_iter_2.solverstate')
    with pytest.raises(SystemExit, match='in use by process %d' % os.getppid()):
        train.main(exp, [], argv=['--resume', state, '--iters', '3'] + common)
    os.remove(os.path.join(out, 'lock'))

    capsys.readouterr()
    train.main(exp, [], argv=['--weights', 'none', '--iters', '1', '--overwrite'] + common)
    assert 'deleted the' in capsys.readouterr().out
    assert sorted(f for f in os.listdir(out) if 'iter' in f) == [
        'train_iter_1.caffemodel', 'train_iter_1.rngstate', 'train_iter_1.solverstate', 'train_iter_1.train.json']
    with open(os.path.join(out, 'log.jsonl')) as f:
        assert [json.loads(line)['iter'] for line in f] == [1, 1]  # a loss line, then the scores at the last

    from torchcaffe.proto import caffe_pb2
    state = binaryproto.read(os.path.join(out, 'train_iter_1.solverstate'), caffe_pb2.SolverState)
    assert state.learned_net == 'train_iter_1.caffemodel'
    moved = str(tmp_path / 'moved')
    os.rename(out, moved)
    common[common.index(out)] = moved
    train.main(exp, [], argv=['--resume', os.path.join(moved, 'train_iter_1.solverstate'), '--iters', '2'] + common)
    assert 'resumed from %s at iteration 1' % os.path.join(moved, 'train_iter_1.solverstate') in capsys.readouterr().out
    assert os.path.isfile(os.path.join(moved, 'train_iter_2.caffemodel')) and not os.path.exists(out)


def test_training_and_resuming_with_data_options(experiment, tmp_path, monkeypatch, capsys):
    exp, root = experiment
    solvers = []
    real_train = train.train

    def spy(solver, *args):
        solvers.append(solver)
        return real_train(solver, *args)

    monkeypatch.setattr(train, 'train', spy)
    out = str(tmp_path / 'out')
    common = ['--data-root', root, '--out', out, '--display', '1', '--score-every', '2',
              '--train-data', "{'sample': 0.5, 'mirror': True, 'jitter': 8, 'mask': 'fg-only'}",
              '--score-data', "{'mask': 'fg-only'}"]
    train.main(exp, [], argv=['--weights', 'none', '--iters', '2'] + common)
    assert 'iter_size 2' in capsys.readouterr().out
    solver = solvers[-1]
    layer = solver.net.layers[0]
    assert layer.state['position'] == 4  # 2 iterations of 2 images
    transform = layer.transform
    assert (transform.sample, transform.mirror, transform.jitter, transform.mask) == (0.5, True, 8, 'fg-only')
    assert solver.test_nets[0].layers[0].transform.mask == 'fg-only'
    with open(os.path.join(out, 'log.jsonl')) as f:
        log = [json.loads(line) for line in f]
    assert [r['iter'] for r in log if 'loss' in r] == [1, 2] and any('scores' in r for r in log)

    train.main(exp, [], argv=['--resume', os.path.join(out, 'train_iter_2.solverstate'), '--iters', '3'] + common)
    assert solvers[-1].net.layers[0].state['position'] == 6  # resumed at 2 * 2, then one more step


def test_score_command_masks_the_inputs(experiment, tmp_path, monkeypatch, capsys):
    exp, root = experiment
    monkeypatch.setenv('FCN_DATA_ROOT', root)
    val = os.path.join(exp, 'val.prototxt')
    net = torchcaffe.Net(val, torchcaffe.TEST)
    weights = str(tmp_path / 'w.caffemodel')
    net.save(weights)
    masked = score.data_net(torchcaffe, val, weights, {'mask': 'bg-only'})
    masked.forward()
    data, label = masked.blobs['data'].data[0], masked.blobs['label'].data[0, 0]
    assert (label != 0).any() and not data[:, label != 0].any()  # all but the background hidden
    assert data[:, label == 0].any()

    score.main([val, weights, '--data', "{'mask': 'shape'}", '--exclude', '0', '--save', str(tmp_path / 'pred')])
    report = capsys.readouterr().out
    assert 'without classes 0:' in report
    ids = datasets.read_ids(os.path.join(root, 'pascal', 'VOC2011', 'ImageSets', 'Segmentation',
                                             'seg11valid.txt'))
    assert 'w.caffemodel: score vs label on %d images' % len(ids) in report and 'mean IU' in report
    assert sorted(os.listdir(tmp_path / 'pred')) == sorted(i + '.png' for i in ids)


LIVE = """
import sys
from fcn import train
experiment, argv = sys.argv[1], sys.argv[2:]
real_train = train.train
def spy(solver, *args):
    real_train(solver, *args)
    layer = solver.net.layers[0]
    print('position', layer.state['position'], 'sample', layer.transform.sample,
          'mask', solver.test_nets[0].layers[0].transform.mask)
train.train = spy
train.main(experiment, [], argv=argv)
"""


def test_training_with_data_options_in_bvlc_caffe(experiment, tmp_path, pycaffe):
    """Real Caffe takes the inlined nets; its Python data layers transform and keep the position."""
    exp, root = experiment
    argv = ['--backend', 'caffe', '--weights', 'none', '--iters', '2', '--data-root', root,
            '--out', str(tmp_path), '--score-every', '2', '--train-data', "{'sample': 0.5, 'jitter': 8}",
            '--score-data', "{'mask': 'bg-only'}"]
    r = subprocess.run([sys.executable, '-c', LIVE, exp] + argv, cwd=train.REPO, env=refcaffe.env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    assert 'iter_size 2' in r.stdout and 'position 4 sample 0.5 mask bg-only' in r.stdout


def test_training_in_bf16(experiment, tmp_path, monkeypatch, capsys):
    """--precision bf16 trains in bfloat16 on the engine's default fast layout (and says
    so); weights and snapshots stay float32."""
    exp, root = experiment
    losses = []
    real_train = train.train

    def spy(solver, *args):
        real_train(solver, *args)
        losses.append(float(solver.net.blobs['loss'].data))
        assert torchcaffe.engine.device.compute_dtype() == torch.bfloat16

    monkeypatch.setattr(train, 'train', spy)
    out = str(tmp_path / 'out')
    try:
        train.main(exp, [], argv=['--weights', 'none', '--iters', '2', '--data-root', root, '--out', out,
                                  '--score-every', '2', '--precision', 'bf16'])
    finally:
        torchcaffe.set_strict(False)
    assert 'on CPU, bf16, channels_last, skipping repeated windows, reusing host memory' in capsys.readouterr().out
    assert losses and all(map(math.isfinite, losses))
    weights = torchcaffe.Net(os.path.join(exp, 'val.prototxt'), os.path.join(out, 'train_iter_2.caffemodel'),
                             torchcaffe.TEST).params
    assert all(b.data.dtype == np.float32 and np.isfinite(b.data).all() for bs in weights.values() for b in bs)


def test_fast_modes_need_the_torch_backend(experiment, tmp_path, pycaffe):
    exp, root = experiment
    argv = ['--backend', 'caffe', '--weights', 'none', '--iters', '1', '--data-root', root,
            '--out', str(tmp_path), '--precision', 'bf16']
    r = subprocess.run([sys.executable, '-c', LIVE, exp] + argv, cwd=train.REPO, env=refcaffe.env(),
                       capture_output=True, text=True, timeout=300)
    assert r.returncode == 1
    assert '--precision and --strict are settings of the torch backend' in r.stderr


def test_strict_training_computes_in_caffes_order(experiment, tmp_path, monkeypatch, capsys):
    """--strict trains in NCHW with host memory handed back, and says so."""
    exp, root = experiment
    layouts = []
    real_train = train.train

    def spy(solver, *args):
        real_train(solver, *args)
        layouts.append(torchcaffe.engine.device.channels_last())

    monkeypatch.setattr(train, 'train', spy)
    try:
        train.main(exp, [], argv=['--weights', 'none', '--iters', '1', '--data-root', root,
                                  '--out', str(tmp_path / 'out'), '--strict'])
    finally:
        torchcaffe.set_strict(False)
    assert "on CPU, fp32, Caffe's order (strict)" in capsys.readouterr().out
    assert layouts == [False]
