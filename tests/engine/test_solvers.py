"""Every golden solver case (tests/golden/README.md, section C): learning rates, losses and
weights of 4 steps as in real Caffe; Caffe's snapshots restored and continued; our
snapshots laid out byte for byte like Caffe's and restored bit for bit."""
import numpy as np
import pytest
import torch

import torchcaffe as caffe
from torchcaffe.formats import binaryproto
from torchcaffe.io import array_to_blobproto, blobproto_to_array
from torchcaffe.engine import sgd_solvers
from torchcaffe.proto import caffe_pb2
import golden

CASES = golden.cases('solver')
RESTORE_CASES = [c for c in CASES if 'restore' in c]
CLASS_OF_TYPE = {'SGD': caffe.SGDSolver, 'Nesterov': caffe.NesterovSolver,
                 'AdaGrad': caffe.AdaGradSolver, 'RMSProp': caffe.RMSPropSolver,
                 'AdaDelta': caffe.AdaDeltaSolver, 'Adam': caffe.AdamSolver}


def new_solver(case, monkeypatch):
    """The case's solver built as Caffe would: from the case dir, where its net path points."""
    monkeypatch.chdir(golden.path(case))
    return caffe.get_solver('solver.prototxt')


def feed(solver, g, k):
    for blob in ('data', 'label'):
        solver.net.blobs[blob].data[...] = g['iter/%d/input/%s' % (k, blob)]


def step_and_check(solver, g, k, prefix='iter'):
    """Feed batch k, check solver.lr (to 1 ulp), step once, check the loss and every param
    (|w - w_golden| <= 1e-5 max|w_golden|, the README's tolerance)."""
    feed(solver, g, k)
    lr = g['%s/%d/lr' % (prefix, k)]
    assert abs(np.float32(solver.lr) - lr) <= np.spacing(lr), (k, solver.lr, lr)
    solver.step(1)
    loss = g['%s/%d/loss' % (prefix, k)]
    actual = solver.net.blobs['loss'].data
    assert abs(actual - loss) <= 1e-5 * abs(loss), (k, actual, loss)
    for (layer, i), expected in g.params('%s/%d/param/' % (prefix, k)).items():
        actual = solver.net.params[layer][i].data
        err = np.abs(actual - expected).max() / np.abs(expected).max()
        assert err <= 1e-5, 'step %d, param %s/%d: error %.3g of max|w|' % (k, layer, i, err)


def nerr(expected, actual):
    scale = np.abs(expected).max()
    err = np.abs(actual - expected).max()
    return err / scale if scale else err


def check_snapshot_like_caffe(solver, case, tmp_path):
    """Our snapshot after 4 steps vs Caffe's snapshot_iter_4: same messages and wire layout."""
    solver.snapshot()
    ours_model = binaryproto.read(tmp_path / 'snapshot_iter_4.caffemodel', caffe_pb2.NetParameter)
    ours_state = binaryproto.read(tmp_path / 'snapshot_iter_4.solverstate', caffe_pb2.SolverState)
    caffe_model = binaryproto.read(golden.path(case, 'snapshot_iter_4.caffemodel'),
                                   caffe_pb2.NetParameter)
    caffe_state = binaryproto.read(golden.path(case, 'snapshot_iter_4.solverstate'),
                                   caffe_pb2.SolverState)

    # Weights within the trajectory tolerance; with Caffe's values in place, our file is Caffe's file.
    ours_blobs = [b for layer in ours_model.layer for b in layer.blobs]
    caffe_blobs = [b for layer in caffe_model.layer for b in layer.blobs]
    assert len(ours_blobs) == len(caffe_blobs)
    for ours, theirs in zip(ours_blobs, caffe_blobs):
        assert nerr(blobproto_to_array(theirs), blobproto_to_array(ours)) <= 1e-5
        ours.CopyFrom(array_to_blobproto(blobproto_to_array(theirs)))
    with open(golden.path(case, 'snapshot_iter_4.caffemodel'), 'rb') as f:
        assert ours_model.SerializeToString() == f.read()

    assert ours_state.learned_net == str(tmp_path / 'snapshot_iter_4.caffemodel')
    assert caffe_state.learned_net == 'snapshot_iter_4.caffemodel'
    assert ours_state.iter == caffe_state.iter == 4
    assert ours_state.current_step == caffe_state.current_step
    assert ours_state.HasField('current_step') and caffe_state.HasField('current_step')
    assert len(ours_state.history) == len(caffe_state.history) == \
        solver.history_sets * len(solver.net.learnable_params)
    for ours, theirs in zip(ours_state.history, caffe_state.history):
        assert tuple(ours.shape.dim) == tuple(theirs.shape.dim)
        assert nerr(blobproto_to_array(theirs), blobproto_to_array(ours)) <= 1e-4
        ours.CopyFrom(array_to_blobproto(blobproto_to_array(theirs)))
    ours_state.learned_net = caffe_state.learned_net
    with open(golden.path(case, 'snapshot_iter_4.solverstate'), 'rb') as f:
        assert ours_state.SerializeToString() == f.read()


def check_restore_bit_for_bit(solver, g, case, monkeypatch, snapshot):
    """A fresh solver restored from our iter-2 ``snapshot`` and run 2 steps equals ``solver``."""
    resumed = new_solver(case, monkeypatch)
    resumed.restore(snapshot)
    assert resumed.iter == 2
    for k in (3, 4):
        feed(resumed, g, k)
        resumed.step(1)
    for layer, blobs in solver.net.params.items():
        for i, blob in enumerate(blobs):
            assert np.array_equal(resumed.net.params[layer][i].data, blob.data), (layer, i)
    for ours, theirs in zip(resumed._history, solver._history):
        assert np.array_equal(ours.data, theirs.data)
    assert (resumed.iter, resumed.current_step) == (solver.iter, solver.current_step)


@pytest.mark.parametrize('case', CASES)
def test_golden_solver_case(case, monkeypatch, tmp_path, memory):
    """4 steps as in Caffe (snapshot at 2 on the way), the snapshot at 4 laid out like
    Caffe's, and a restore of ours continued to 4 equal to the straight run; in each
    memory model."""
    g = golden.Golden(case)
    solver = new_solver(case, monkeypatch)
    assert type(solver) is CLASS_OF_TYPE[solver.param.type]
    solver.net.copy_from('weights.caffemodel')
    for (layer, i), expected in g.params('iter/0/param/').items():
        assert np.array_equal(solver.net.params[layer][i].data, expected)
    solver.param.snapshot_prefix = str(tmp_path / 'snapshot')
    for k in range(1, 5):
        step_and_check(solver, g, k)
        if k == 2:
            solver.snapshot()
    assert solver.iter == 4
    check_snapshot_like_caffe(solver, case, tmp_path)
    check_restore_bit_for_bit(solver, g, case, monkeypatch,
                              str(tmp_path / 'snapshot_iter_2.solverstate'))


@pytest.mark.parametrize('case', CASES)
def test_golden_solver_case_in_pieces(case, monkeypatch):
    """The update computed piece by piece (sgd_solvers.PIECE, here 5 elements, so the
    weights are cut, ragged last pieces included) follows Caffe's 4 steps too."""
    monkeypatch.setattr(sgd_solvers, 'PIECE', 5)
    g = golden.Golden(case)
    solver = new_solver(case, monkeypatch)
    solver.net.copy_from('weights.caffemodel')
    for k in range(1, 5):
        step_and_check(solver, g, k)
    params = solver.net.learnable_params
    assert any(len(sgd_solvers._pieces([p.tdata, p.tdiff] + solver._history_of(i))) > 1
               for i, p in enumerate(params))


def test_update_pieces_match_across_layouts(monkeypatch):
    """Pieces of tensors stored alike are the same elements of each, in storage order;
    tensors stored differently stay whole."""
    monkeypatch.setattr(sgd_solvers, 'PIECE', 7)
    a = torch.arange(2 * 3 * 4 * 5.).view(2, 3, 4, 5).contiguous(memory_format=torch.channels_last)
    pieces = sgd_solvers._pieces([a, a.clone(), 2 * a])
    assert [len(p[0]) for p in pieces] == [7] * 17 + [1]
    assert torch.equal(torch.cat([p[0] for p in pieces]), a.permute(0, 2, 3, 1).flatten())
    assert all(torch.equal(p, q) and torch.equal(2 * p, r) for p, q, r in pieces)
    # a 1x1 kernel's 1-long axes may have any stride
    one_by_one = torch.zeros(3, 4, 1, 1).as_strided((3, 4, 1, 1), (4, 1, 4, 4))
    assert len(sgd_solvers._pieces([torch.zeros(3, 4, 1, 1), one_by_one])) == 2
    assert len(sgd_solvers._pieces([a, a.contiguous()])) == 1


@pytest.mark.parametrize('case', RESTORE_CASES)
def test_restore_caffe_snapshot(case, monkeypatch):
    """Caffe's snapshot_iter_2 restored (its learned_net is relative to the case dir), then 2 steps."""
    g = golden.Golden(case)
    solver = new_solver(case, monkeypatch)
    solver.restore('snapshot_iter_2.solverstate')
    assert solver.iter == int(g['meta/restored_iter']) == 2
    for (layer, i), expected in g.params('iter/2/param/').items():
        assert np.array_equal(solver.net.params[layer][i].data, expected)
    for k in (3, 4):
        step_and_check(solver, g, k, prefix='restored')
