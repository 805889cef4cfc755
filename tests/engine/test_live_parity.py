"""Live parity with real Caffe: random FCN-style nets agree forward and backward.

Skipped where no real pycaffe is built (scripts/build_pycaffe.sh; CI builds it).
"""
import os

import numpy as np
import pytest

import torchcaffe
from torchcaffe.formats import prototxt
import golden
import random_nets

SEEDS = range(12)


def build_pair(pycaffe, seed, tmp_path):
    """The same random net with the same weights in both engines (Caffe reads our caffemodel)."""
    s = random_nets.spec(seed)
    path = str(tmp_path / 'net.prototxt')
    prototxt.write(path, random_nets.net_param(s))
    ours = torchcaffe.Net(path, torchcaffe.TEST)
    random_nets.fill(ours, seed)
    weights = str(tmp_path / 'weights.caffemodel')
    ours.save(weights)
    theirs = pycaffe.Net(path, weights, pycaffe.TEST)
    return s, ours, theirs


@pytest.mark.parametrize('seed', SEEDS)
def test_random_fcn_forward_backward(pycaffe, seed, tmp_path):
    s, ours, theirs = build_pair(pycaffe, seed, tmp_path)
    assert list(ours.blobs) == list(theirs.blobs)
    data, label = random_nets.batch(s, seed)
    for net in (ours, theirs):
        net.blobs['data'].data[...] = data
        net.blobs['label'].data[...] = label
    golden.assert_nets_agree(ours, theirs, skip_diffs=random_nets.tie_sensitive(ours))


SOLVERS = {
    'SGD': 'type: "SGD" momentum: 0.9 weight_decay: 0.0005',
    'Nesterov': 'type: "Nesterov" momentum: 0.9 weight_decay: 0.0005',
    'Adam': 'type: "Adam" momentum: 0.9 momentum2: 0.999 delta: 1e-8',
}


def write_solver(tmp_path, net_path, kind, seed):
    lr = 1e-3 if kind == 'Adam' else 1e-6
    path = tmp_path / ('solver-%s.prototxt' % kind)
    path.write_text('net: "%s"\nbase_lr: %g\nlr_policy: "step" gamma: 0.5 stepsize: 2\n%s\n'
                    'snapshot_prefix: "%s"\nrandom_seed: %d\n'
                    % (net_path, lr, SOLVERS[kind], tmp_path / ('snap-' + kind), seed))
    return str(path)


def feed(solver, s, seed, k):
    data, label = random_nets.batch(s, 1000 * seed + k)
    solver.net.blobs['data'].data[...] = data
    solver.net.blobs['label'].data[...] = label


def assert_same_params(ours, theirs, what, tol=1e-4):
    for layer, blobs in theirs.params.items():
        for i, b in enumerate(blobs):
            scale = max(np.abs(b.data).max(), 1e-30)
            err = np.abs(b.data - ours.params[layer][i].data).max() / scale
            assert err <= tol, '%s: param %s/%d differs by %.3g of its max' % (what, layer, i, err)


@pytest.mark.parametrize('kind', sorted(SOLVERS))
@pytest.mark.parametrize('seed', [0, 1, 2])
def test_random_fcn_solver_steps(pycaffe, kind, seed, tmp_path):
    s, ours_net, _ = build_pair(pycaffe, seed, tmp_path)
    path = write_solver(tmp_path, tmp_path / 'net.prototxt', kind, seed)
    weights = str(tmp_path / 'weights.caffemodel')
    ours, theirs = torchcaffe.get_solver(path), pycaffe.get_solver(path)
    for solver in (ours, theirs):
        solver.net.copy_from(weights)
    for k in range(3):
        for solver in (ours, theirs):
            feed(solver, s, seed, k)
            solver.step(1)
        loss = [float(x.net.blobs['loss'].data) for x in (ours, theirs)]
        assert abs(loss[0] - loss[1]) <= 1e-5 * max(1.0, abs(loss[1])), (k, loss)
        assert_same_params(ours.net, theirs.net, 'step %d' % (k + 1))


@pytest.mark.parametrize('first', ['torch', 'caffe'])
@pytest.mark.parametrize('kind', ['SGD', 'Adam'])
def test_snapshots_cross_between_engines(pycaffe, first, kind, tmp_path):
    """2 iterations in one engine, snapshot, restore in the other, 2 more = 4 straight."""
    seed = 3
    s, _, _ = build_pair(pycaffe, seed, tmp_path)
    path = write_solver(tmp_path, tmp_path / 'net.prototxt', kind, seed)
    weights = str(tmp_path / 'weights.caffemodel')
    engines = {'torch': torchcaffe, 'caffe': pycaffe}
    second = 'caffe' if first == 'torch' else 'torch'

    def run(engine, steps, restore=None):
        solver = engines[engine].get_solver(path)
        if restore:
            solver.restore(restore)
        else:
            solver.net.copy_from(weights)
        for k in steps:
            feed(solver, s, seed, k)
            solver.step(1)
        return solver

    cwd = os.getcwd()
    os.chdir(str(tmp_path))  # Caffe resolves the solverstate's learned_net against the working directory
    try:
        head = run(first, range(2))
        head.snapshot()
        state = str(tmp_path / ('snap-%s_iter_2.solverstate' % kind))
        crossed = run(second, range(2, 4), restore=state)
        assert crossed.iter == 4
        for engine in ('torch', 'caffe'):
            straight = run(engine, range(4))
            assert_same_params(crossed.net, straight.net, '%s -> %s vs 4 in %s' % (first, second, engine),
                               tol=1e-5)
    finally:
        os.chdir(cwd)
