"""Snapshots: naming and intervals, atomic writes that leave older files intact, refused
non-finite weights, restore and solve(resume) semantics and their errors."""
import errno
import os

import numpy as np
import pytest
import torch

import torchcaffe as caffe
from torchcaffe.errors import FormatError, SolverError
from torchcaffe.formats import files, binaryproto
from torchcaffe.proto import caffe_pb2
import tinynet


@pytest.fixture
def workdir(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return tmp_path


SNAPSHOT_FILES = ('caffemodel', 'rngstate', 'solverstate')  # in the order they are written


def read_state(path):
    return binaryproto.read(path, caffe_pb2.SolverState)


def test_names_interval_and_relative_learned_net(workdir):
    os.mkdir('out')
    solver = caffe.get_solver(tinynet.write(workdir, snapshot=2, snapshot_prefix='"out/snap"'))
    solver.step(5)
    assert sorted(os.listdir('out')) == ['snap_iter_%d.%s' % (i, ext) for i in (2, 4)
                                         for ext in SNAPSHOT_FILES]
    state = read_state('out/snap_iter_4.solverstate')
    assert state.learned_net == 'out/snap_iter_4.caffemodel'   # as written, like Caffe
    assert (state.iter, state.current_step, len(state.history)) == (4, 0, 3)
    model = binaryproto.read('out/snap_iter_4.caffemodel', caffe_pb2.NetParameter)
    assert [l.name for l in model.layer] == ['data', 'conv', 'fixed', 'loss']
    assert not any(b.diff for l in model.layer for b in l.blobs)   # snapshot_diff is false


def test_solve_snapshots_after_train_once(workdir):
    solver = caffe.get_solver(tinynet.write(workdir, snapshot=2, max_iter=5))
    solver.solve()
    assert solver.iter == 5
    assert sorted(f for f in os.listdir('.') if f.startswith('snap')) == [
        'snap_iter_%d.%s' % (i, ext) for i in (2, 4, 5) for ext in SNAPSHOT_FILES]
    solver = caffe.get_solver(tinynet.write(workdir, snapshot=2, max_iter=4,
                                            snapshot_prefix='"again"'))
    solver.solve()   # iteration 4 is a snapshot iteration already: no second write
    assert sorted(f for f in os.listdir('.') if f.startswith('again')) == [
        'again_iter_%d.%s' % (i, ext) for i in (2, 4) for ext in SNAPSHOT_FILES]


def test_default_prefix_is_the_solver_file_stem(workdir):
    solver = caffe.get_solver(tinynet.write(workdir, snapshot_prefix=None))
    solver.step(1)
    solver.snapshot()
    assert os.path.exists(str(workdir / 'solver_iter_1.caffemodel'))
    assert read_state(str(workdir / 'solver_iter_1.solverstate')).learned_net == \
        str(workdir / 'solver_iter_1.caffemodel')


def test_solve_resume_equals_straight_run(workdir):
    straight = caffe.get_solver(tinynet.write(workdir, snapshot=2, max_iter=4, type='"Adam"'))
    straight.solve()
    resumed = caffe.get_solver(tinynet.write(workdir, max_iter=4, type='"Adam"', snapshot_prefix='"b"'))
    resumed.net.layers[0].count = 2   # the data layer where the straight run was at iteration 2
    resumed.solve('snap_iter_2.solverstate')
    assert resumed.iter == 4
    for a, b in zip(straight.net.learnable_params, resumed.net.learnable_params):
        assert np.array_equal(a.data, b.data)


def failing_fsync(calls_before_failure):
    """An os.fsync that fails with ENOSPC after ``calls_before_failure`` successful calls."""
    calls = []

    def fsync(fd):
        calls.append(fd)
        if len(calls) > calls_before_failure:
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
    return fsync


@pytest.mark.parametrize('failing_file', SNAPSHOT_FILES)
def test_failed_write_leaves_previous_snapshot_intact(workdir, monkeypatch, failing_file):
    solver = caffe.get_solver(tinynet.write(workdir))
    solver.step(2)
    solver.snapshot()
    good = {f: (workdir / f).read_bytes() for f in os.listdir('.') if f.startswith('snap')}
    assert sorted(good) == ['snap_iter_2.%s' % ext for ext in SNAPSHOT_FILES]
    solver.net.params['conv'][0].data[...] += 1   # the next snapshot would differ
    torch.manual_seed(1)   # ... and so would the random generator state

    # each file is synced, then its directory: two fsyncs per file, in SNAPSHOT_FILES order
    with monkeypatch.context() as patch:
        patch.setattr(files.os, 'fsync', failing_fsync(2 * SNAPSHOT_FILES.index(failing_file)))
        with pytest.raises(SolverError, match=r"iteration 2: cannot write snapshot "
                                              r"'snap_iter_2.%s' in %s: No space left" % (failing_file, workdir)):
            solver.snapshot()   # the same names: an overwrite in place would corrupt them
    leftovers = sorted(f for f in os.listdir('.') if f.startswith(('snap', '.snap')))
    assert leftovers == sorted(good)
    # the files before the failing one are new, it and those after it are the old ones:
    # the solverstate, written last, never names a newer model or generator state
    written = SNAPSHOT_FILES[:SNAPSHOT_FILES.index(failing_file)]
    for f, data in good.items():
        assert ((workdir / f).read_bytes() == data) != f.endswith(written), f


def test_unwritable_snapshot_prefix(workdir):
    with pytest.raises(SolverError, match=r"cannot write to snapshot_prefix 'nowhere/snap'"):
        caffe.get_solver(tinynet.write(workdir, snapshot=10, snapshot_prefix='"nowhere/snap"'))
    solver = caffe.get_solver(tinynet.write(workdir, snapshot_prefix='"nowhere/snap"'))
    with pytest.raises(SolverError, match=r"iteration 0: cannot write snapshot 'nowhere/snap_iter_0"
                                          r".caffemodel' in %s: No such file" % workdir):
        solver.snapshot()


def test_non_finite_weights_are_not_snapshotted(workdir):
    solver = caffe.get_solver(tinynet.write(workdir))
    solver.net.params['conv'][1].data[0] = np.nan
    with pytest.raises(SolverError, match=r"param 1 of layer 'conv' is not finite; no snapshot"):
        solver.snapshot()
    assert not [f for f in os.listdir('.') if f.startswith('snap')]


def test_hdf5_is_refused_clearly(workdir):
    with pytest.raises(SolverError, match='snapshot_format HDF5 is not supported'):
        caffe.get_solver(tinynet.write(workdir, snapshot=5, snapshot_format='HDF5'))
    solver = caffe.get_solver(tinynet.write(workdir, snapshot_format='HDF5'))
    with pytest.raises(SolverError, match='snapshot_format HDF5 is not supported'):
        solver.snapshot()
    with pytest.raises(SolverError, match='HDF5 solver states are not supported'):
        solver.restore('snap_iter_5.solverstate.h5')


def test_restore_errors(workdir):
    adam = caffe.get_solver(tinynet.write(workdir, type='"Adam"', snapshot_prefix='"adam"'))
    adam.snapshot()
    sgd = caffe.get_solver(tinynet.write(workdir))
    with pytest.raises(SolverError, match='adam_iter_0.solverstate holds 6 history blobs, '
                                          'this SGDSolver needs 3'):
        sgd.restore('adam_iter_0.solverstate')
    os.remove('adam_iter_0.caffemodel')
    adam = caffe.get_solver(tinynet.write(workdir, type='"Adam"'))
    with pytest.raises(SolverError, match='learned_net "adam_iter_0.caffemodel" '
                                          r'\(relative to the working directory'):
        adam.restore('adam_iter_0.solverstate')
    with pytest.raises(FormatError, match='net.prototxt: not a binary caffe.SolverState'):
        adam.restore('net.prototxt')


def test_restore_reads_history_iter_and_step(workdir):
    solver = caffe.get_solver(tinynet.write(workdir, lr_policy='"multistep"', gamma=0.5,
                                            stepvalue=[1, 2], momentum=0.9))
    solver.step(3)
    solver.snapshot()
    other = caffe.get_solver(tinynet.write(workdir, lr_policy='"multistep"', gamma=0.5,
                                           stepvalue=[1, 2], momentum=0.9))
    other.restore('snap_iter_3.solverstate')
    assert (other.iter, other.current_step) == (3, 2)
    assert other.lr == pytest.approx(0.0025)
    for a, b in zip(solver._history, other._history):
        assert np.array_equal(a.data, b.data)
    assert np.abs(other._history[0].data).max() > 0   # conv's momentum (fixed's stays 0)
    for a, b in zip(solver.net.learnable_params, other.net.learnable_params):
        assert np.array_equal(a.data, b.data)


DROPOUT_NET = tinynet.NET.replace('layer { name: "fixed"', 'layer { name: "drop" type: "Dropout" '
                                  'bottom: "conv" top: "conv" }\nlayer { name: "fixed"')


def test_resume_continues_the_dropout_masks_from_the_rngstate(workdir):
    straight = caffe.get_solver(tinynet.write(workdir, DROPOUT_NET, snapshot=2))
    straight.step(4)

    def resumed():
        solver = caffe.get_solver(tinynet.write(workdir, DROPOUT_NET, snapshot_prefix='"b"'))
        solver.net.layers[0].count = 2   # the data layer where the straight run was
        solver.restore('snap_iter_2.solverstate')
        solver.step(2)
        return [np.array_equal(a.data, b.data)
                for a, b in zip(straight.net.learnable_params, solver.net.learnable_params)]
    assert all(resumed())
    os.remove('snap_iter_2.rngstate')   # a snapshot of Caffe's: masks drawn anew from the seed
    assert not all(resumed())


def test_bad_rngstate_is_a_format_error(workdir):
    solver = caffe.get_solver(tinynet.write(workdir))
    solver.snapshot()
    raw = (workdir / 'snap_iter_0.rngstate').read_bytes()
    (workdir / 'snap_iter_0.rngstate').write_bytes(raw[:-1])
    with pytest.raises(FormatError, match='snap_iter_0.rngstate: truncated rngstate file'):
        solver.restore('snap_iter_0.solverstate')
    (workdir / 'snap_iter_0.rngstate').write_bytes(b'\x80' + raw[1:])
    with pytest.raises(FormatError, match='snap_iter_0.rngstate: not a torchcaffe rngstate file'):
        solver.restore('snap_iter_0.solverstate')
