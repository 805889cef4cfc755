"""Faults during training lose nothing: a diverged loss stops training with the last good
snapshot intact, a process killed while writing a snapshot leaves the previous one
intact, a full disk is an error that keeps the previous snapshot, and a run killed with
SIGKILL and resumed from its last snapshot ends bit-identical to one never stopped.

The experiment is a small one made here (a test-only experiment directory whose
solve.py is train.main, like every experiment's) on synthetic PASCAL VOC data: a
randomized, seeded data layer with prefetching, Dropout, and scoring rounds, so that
the data order, the random generator and the test net all take part.
"""
import errno
import glob
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest

from fcn import synthetic
import torchcaffe as caffe
from torchcaffe.formats import files, binaryproto, read_weights
from torchcaffe.io import array_to_blobproto, blobproto_to_array
from torchcaffe.proto import caffe_pb2

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
ITERS = 24

NET = '''
layer { name: "data" type: "Python" top: "data" top: "label" include { phase: TRAIN }
        python_param { module: "layers" layer: "VOCSegDataLayer"
          param_str: "{'voc_dir': 'pascal/VOC2011', 'split': 'train', 'seed': 1337, 'prefetch': 1}" } }
layer { name: "data" type: "Python" top: "data" top: "label" include { phase: TEST }
        python_param { module: "layers" layer: "VOCSegDataLayer"
          param_str: "{'voc_dir': 'pascal/VOC2011', 'split': 'val'}" } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        convolution_param { num_output: 16 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "conv2" type: "Convolution" bottom: "conv1" top: "conv2"
        convolution_param { num_output: 16 kernel_size: 3 pad: 1 weight_filler { type: "gaussian" std: 0.05 } } }
layer { name: "relu2" type: "ReLU" bottom: "conv2" top: "conv2" }
layer { name: "drop2" type: "Dropout" bottom: "conv2" top: "conv2" dropout_param { dropout_ratio: 0.5 } }
layer { name: "score" type: "Convolution" bottom: "conv2" top: "score"
        convolution_param { num_output: 21 kernel_size: 1 weight_filler { type: "gaussian" std: 0.05 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss"
        loss_param { ignore_label: 255 } }
'''

SOLVER = '''net: "net.prototxt"
test_iter: 4
test_interval: 1000000
test_initialization: false
base_lr: 0.001
lr_policy: "fixed"
momentum: 0.9
weight_decay: 0.0005
max_iter: %d
''' % ITERS

SOLVE_PY = '''import os
import sys
sys.path.insert(0, %r)
from fcn import train
train.main(os.path.dirname(os.path.abspath(__file__)), [])
''' % ROOT


def make_experiment(directory, solver=SOLVER):
    os.makedirs(directory)
    for name, text in (('net.prototxt', NET), ('solver.prototxt', solver), ('solve.py', SOLVE_PY)):
        with open(os.path.join(directory, name), 'w') as f:
            f.write(text)
    return directory


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = str(tmp_path_factory.mktemp('data'))
    synthetic.make_voc(root, n=16, size=(48, 48))
    return root


@pytest.fixture(scope='module')
def experiment(tmp_path_factory):
    return make_experiment(str(tmp_path_factory.mktemp('exp') / 'tiny-exp'))


def command(experiment, data_root, out, *args):
    return [sys.executable, os.path.join(experiment, 'solve.py'), '--data-root', data_root,
            '--out', out, '--seed', '5', '--display', '5', '--score-every', '10',
            '--snapshot-every', '4', *args]


def solve(*args):
    r = subprocess.run(command(*args), capture_output=True, text=True, timeout=300)
    return r.returncode, r.stdout, r.stderr


def losses(out):
    """The log's training records without their wall-clock times."""
    with open(os.path.join(out, 'log.jsonl')) as f:
        records = [json.loads(line) for line in f]
    return [{k: v for k, v in r.items() if k != 'time'} for r in records]


def snapshots(out):
    """Iterations of the complete snapshots in ``out``, in order."""
    return sorted(int(p.rsplit('_', 1)[1].split('.')[0])
                  for p in glob.glob(os.path.join(out, 'train_iter_*.solverstate')))


@pytest.fixture(scope='module')
def straight(experiment, data_root, tmp_path_factory):
    """The output directory of an uninterrupted run."""
    out = str(tmp_path_factory.mktemp('straight'))
    code, stdout, stderr = solve(experiment, data_root, out)
    assert code == 0, stderr[-3000:]
    return out


def test_sigkill_then_resume_is_bit_identical(experiment, data_root, straight, tmp_path):
    out = str(tmp_path / 'killed')
    child = subprocess.Popen(command(experiment, data_root, out), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE)
    first = os.path.join(out, 'train_iter_4.solverstate')
    deadline = time.time() + 120
    while not os.path.exists(first) and child.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    child.send_signal(signal.SIGKILL)
    child.wait()
    stderr = child.stderr.read().decode()
    child.stderr.close()
    assert child.returncode == -signal.SIGKILL, stderr[-3000:]  # killed, not finished
    last = snapshots(out)[-1]
    assert 4 <= last < ITERS

    code, stdout, stderr = solve(experiment, data_root, out, '--resume',
                                 os.path.join(out, 'train_iter_%d.solverstate' % last))
    assert code == 0, stderr[-3000:]
    assert 'resumed from' in stdout and 'at iteration %d' % last in stdout
    assert not glob.glob(os.path.join(out, '.train_iter_*'))  # partial writes are swept
    final = 'train_iter_%d.caffemodel' % ITERS
    with open(os.path.join(straight, final), 'rb') as a, open(os.path.join(out, final), 'rb') as b:
        assert a.read() == b.read()
    history = [[blobproto_to_array(h) for h in binaryproto.read(
        os.path.join(d, 'train_iter_%d.solverstate' % ITERS), caffe_pb2.SolverState).history]
        for d in (straight, out)]
    assert all(np.array_equal(a, b) for a, b in zip(*history))
    assert losses(out) == losses(straight)  # the log too: losses and scores


def test_resume_needs_the_rngstate_to_be_exact(experiment, data_root, straight, tmp_path):
    """The test above would pass without restoring torch's generator only if Dropout
    drew nothing: resuming without the .rngstate must end elsewhere."""
    out = str(tmp_path / 'out')
    os.makedirs(out)
    for ext in ('caffemodel', 'solverstate', 'train.json'):
        name = 'train_iter_4.' + ext
        with open(os.path.join(straight, name), 'rb') as a, open(os.path.join(out, name), 'wb') as b:
            b.write(a.read())
    code, _, stderr = solve(experiment, data_root, out, '--iters', '8', '--resume',
                            os.path.join(out, 'train_iter_4.solverstate'))
    assert code == 0, stderr[-3000:]
    name = 'train_iter_8.caffemodel'
    with open(os.path.join(straight, name), 'rb') as a, open(os.path.join(out, name), 'rb') as b:
        assert a.read() != b.read()


@pytest.mark.parametrize('backend', ['torch', 'caffe'])
def test_nan_loss_stops_training_and_keeps_the_last_snapshot(backend, data_root, tmp_path, monkeypatch,
                                                              request):
    if backend == 'caffe':  # real Caffe updates on a NaN loss: train.py checks and stops
        request.getfixturevalue('pycaffe')
    # a sane rate for 6 iterations, then one that blows the weights up
    solver = SOLVER.replace('lr_policy: "fixed"', 'lr_policy: "step"\nstepsize: 6\ngamma: 1e30')
    experiment = make_experiment(str(tmp_path / 'nan-exp'), solver)
    out = str(tmp_path / 'out')
    code, _, stderr = solve(experiment, data_root, out, '--snapshot-every', '3', '--backend', backend)
    assert code == 1
    assert stderr.strip().splitlines()[-1].startswith(
        "error: %s/solver.prototxt: iteration 7: the loss is nan; the first non-finite top is 'conv2' "
        "of layer 'conv2' (Convolution). Training stopped" % out)
    assert snapshots(out) == [3, 6]
    assert not glob.glob(os.path.join(out, '*_iter_7*')) and not glob.glob(os.path.join(out, '.*'))
    monkeypatch.setenv('FCN_DATA_ROOT', data_root)  # for the net's data layer
    monkeypatch.syspath_prepend(ROOT)
    net = caffe.Net(os.path.join(experiment, 'net.prototxt'), caffe.TEST)
    net.copy_from(os.path.join(out, 'train_iter_6.caffemodel'))
    assert all(np.isfinite(b.data).all() for blobs in net.params.values() for b in blobs)
    resumed = caffe.get_solver(os.path.join(out, 'solver.prototxt'))
    monkeypatch.chdir(out)  # learned_net is relative to the run directory; pycaffe opens it from the working one
    resumed.restore(os.path.join(out, 'train_iter_6.solverstate'))
    assert resumed.iter == 6


def test_killed_while_writing_leaves_the_previous_file_intact(tmp_path):
    path = str(tmp_path / 'train_iter_4.caffemodel')
    small = caffe_pb2.NetParameter(name='good')
    small.layer.add(name='w', type='Convolution').blobs.add().CopyFrom(
        array_to_blobproto(np.arange(6, dtype=np.float32)))
    binaryproto.write(path, small)
    with open(path, 'rb') as f:
        good = f.read()
    writer = textwrap.dedent('''
        import numpy as np
        from torchcaffe.formats import binaryproto
        from torchcaffe.io import array_to_blobproto
        from torchcaffe.proto import caffe_pb2
        big = caffe_pb2.NetParameter(name='big')
        big.layer.add(name='w', type='Convolution').blobs.add().CopyFrom(
            array_to_blobproto(np.ones(16 << 20, np.float32)))  # 64 MB: a while to write
        binaryproto.write(%r, big)
        ''' % path)
    child = subprocess.Popen([sys.executable, '-c', writer], cwd=ROOT)
    partial = []
    deadline = time.time() + 120
    while not partial and child.poll() is None and time.time() < deadline:
        partial = [p for p in glob.glob(str(tmp_path / '.train_iter_4.caffemodel.*'))
                   if os.path.getsize(p) > 0]
        time.sleep(0.001)
    child.send_signal(signal.SIGKILL)
    child.wait()
    assert child.returncode == -signal.SIGKILL and partial  # killed halfway through the write
    with open(path, 'rb') as f:
        assert f.read() == good
    assert read_weights(path).name == 'good'


def test_full_disk_at_a_snapshot_is_an_error_that_keeps_the_previous_one(
        experiment, data_root, straight, tmp_path, monkeypatch):
    from fcn import train
    real_fsync = os.fsync

    def fsync(fd):  # the first snapshot's files go through, the disk fills up during the second
        if 'train_iter_8.caffemodel' in os.readlink('/proc/self/fd/%d' % fd):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        real_fsync(fd)
    monkeypatch.setattr(files.os, 'fsync', fsync)
    monkeypatch.syspath_prepend(ROOT)
    monkeypatch.setenv('FCN_DATA_ROOT', data_root)  # train.main sets it: undone after the test
    out = str(tmp_path / 'out')
    with pytest.raises(SystemExit) as e:
        train.main(experiment, [], argv=command(experiment, data_root, out)[2:])
    assert e.value.code == ("error: %s/solver.prototxt: iteration 8: cannot write snapshot "
                            "'train_iter_8.caffemodel' in %s: No space left on device" % (out, out))
    assert snapshots(out) == [4]
    assert not glob.glob(os.path.join(out, '.train_iter_*'))  # no partial file left behind
    for ext in ('caffemodel', 'rngstate', 'train.json'):
        name = 'train_iter_4.' + ext
        with open(os.path.join(straight, name), 'rb') as a, open(os.path.join(out, name), 'rb') as b:
            assert a.read() == b.read()
    states = [binaryproto.read(os.path.join(d, 'train_iter_4.solverstate'), caffe_pb2.SolverState)
              for d in (straight, out)]
    assert states[0].learned_net == 'train_iter_4.caffemodel'  # relative to the run directory
    assert states[0] == states[1]


@pytest.mark.parametrize('signum', [signal.SIGINT, signal.SIGTERM])
def test_a_signal_stops_with_a_snapshot_and_resume_is_bit_identical(experiment, data_root, straight, tmp_path,
                                                                    signum):
    out = str(tmp_path / 'stopped')
    child = subprocess.Popen(command(experiment, data_root, out), stdout=subprocess.DEVNULL,
                             stderr=subprocess.PIPE, text=True)
    first = os.path.join(out, 'train_iter_4.solverstate')
    deadline = time.time() + 120
    while not os.path.exists(first) and child.poll() is None and time.time() < deadline:
        time.sleep(0.002)
    time.sleep(0.05)  # somewhere past the snapshot schedule
    child.send_signal(signum)
    stderr = child.communicate(timeout=120)[1]
    assert child.returncode == 128 + signum, stderr[-3000:]
    match = re.search(r'stopped after iteration (\d+); snapshot written; continue with: python \S+ --resume (\S+)',
                      stderr)
    assert match, stderr[-3000:]
    stopped, state = int(match.group(1)), match.group(2)
    assert 4 <= stopped < ITERS and snapshots(out)[-1] == stopped
    assert state == os.path.join(out, 'train_iter_%d.solverstate' % stopped)

    code, _, stderr = solve(experiment, data_root, out, '--resume', state)
    assert code == 0, stderr[-3000:]
    name = 'train_iter_%d.caffemodel' % ITERS
    with open(os.path.join(straight, name), 'rb') as a, open(os.path.join(out, name), 'rb') as b:
        assert a.read() == b.read()
    assert losses(out) == losses(straight)


def test_a_second_ctrl_c_aborts_at_once():
    from fcn.train import Stop
    before = signal.getsignal(signal.SIGINT)
    with Stop() as stop:
        os.kill(os.getpid(), signal.SIGINT)
        assert stop.signal == signal.SIGINT  # the first only asks to stop
        with pytest.raises(KeyboardInterrupt):
            os.kill(os.getpid(), signal.SIGINT)
            time.sleep(1)
    assert signal.getsignal(signal.SIGINT) is before  # restored


# A training run that SIGKILLs itself at one chosen moment: 'step' (a random time into
# the k-th iteration, which may run on into its log line or snapshot), 'snapshot' (the
# k-th snapshot file, written to its temporary name and not yet renamed) or 'log' (the
# k-th log record, half of its line written).
KILLER = '''import os, signal, sys, threading
sys.path.insert(0, %r)
from fcn import runlog, train
mode, k, delay, experiment = sys.argv[1], int(sys.argv[2]), float(sys.argv[3]), sys.argv[4]
calls = [0]


def due():
    calls[0] += 1
    return calls[0] == k


def die():
    os.kill(os.getpid(), signal.SIGKILL)


if mode == 'step':
    loop = train.train

    def train_spy(solver, *args):
        step = solver.step

        def step_spy(n):
            if due():
                threading.Timer(delay, die).start()
            return step(n)
        solver.step = step_spy
        return loop(solver, *args)
    train.train = train_spy
elif mode == 'snapshot':
    fsync = os.fsync

    def fsync_spy(fd):
        if 'train_iter_' in os.readlink('/proc/self/fd/%%d' %% fd) and due():
            die()
        fsync(fd)
    os.fsync = fsync_spy
else:
    write = runlog.Log.write

    def write_spy(self, **record):
        if due():
            with open(self.path, 'a') as f:
                f.write('{"iter": %%d, "lo' %% record.get('iter', 0))
            die()
        write(self, **record)
    runlog.Log.write = write_spy
train.main(experiment, [], argv=sys.argv[5:])
''' % ROOT
KILLS, KILL_ITERS = 20, 80
# k is drawn from 1..LATEST: each run dies within its first two snapshots (every 4 iterations,
# 4 files each), so 20 kills spread over the run's life and never reach its end
LATEST = {'step': 6, 'snapshot': 8, 'log': 6}


def digest(*paths):
    """{file: bytes} of the files ``paths`` and of every file under the directories among them."""
    files = [p for p in paths if os.path.isfile(p)]
    files += [os.path.join(here, name) for p in paths for here, _, names in os.walk(p) for name in names]
    found = {}
    for path in files:
        with open(path, 'rb') as f:
            found[path] = f.read()
    return found


def test_killed_twenty_times_at_random_moments_every_resume_ends_bit_identical(experiment, data_root,
                                                                              tmp_path):
    """SIGKILL during steps, snapshot writes and log writes, 20 times in one run's life; each
    time the run resumes from its newest complete snapshot (or starts over when it has
    none). The end is bit-identical to a run never stopped, and no file a user gave is lost."""
    import random
    rng = random.Random(20261206)
    extra = ('--iters', str(KILL_ITERS), '--display', '1')
    straight = str(tmp_path / 'straight')
    code, _, stderr = solve(experiment, data_root, straight, *extra)
    assert code == 0, stderr[-3000:]
    out = str(tmp_path / 'killed')
    os.makedirs(out)
    with open(os.path.join(out, 'notes.txt'), 'w') as f:
        f.write('the user\'s own file in the run directory')
    given = digest(experiment, data_root, os.path.join(out, 'notes.txt'))
    killer = str(tmp_path / 'killer.py')
    with open(killer, 'w') as f:
        f.write(KILLER)
    history = []
    for i in range(KILLS + 1):
        done = snapshots(out)
        since = ['--resume', os.path.join(out, 'train_iter_%d.solverstate' % done[-1])] if done else ['--overwrite']
        mode = ('step', 'snapshot', 'log')[i % 3]
        k, delay = (rng.randint(1, LATEST[mode]), rng.uniform(0, 0.05)) if i < KILLS else (0, 0)
        r = subprocess.run([sys.executable, '-u', killer, mode, str(k), str(delay), experiment]
                           + command(experiment, data_root, out, *extra, *since)[2:],
                           capture_output=True, text=True, timeout=300)
        history.append((mode, k, done[-1] if done else None))
        if i < KILLS:
            assert r.returncode == -signal.SIGKILL, (history, r.stdout[-2000:], r.stderr[-3000:])
        else:
            assert r.returncode == 0, (history, r.stderr[-3000:])
        if done and mode != 'snapshot':  # a snapshot-write kill may come while the log is truncated
            assert 'resumed from %s at iteration %d' % (since[1], done[-1]) in r.stdout, (history, r.stdout[-2000:])
    assert len({m for m, _, _ in history[:KILLS]}) == 3 and any(s for _, _, s in history)  # resumes happened

    final = 'train_iter_%d' % KILL_ITERS
    for ext in ('caffemodel', 'rngstate', 'train.json'):
        with open(os.path.join(straight, final + '.' + ext), 'rb') as a, \
                open(os.path.join(out, final + '.' + ext), 'rb') as b:
            assert a.read() == b.read(), ext
    states = [binaryproto.read(os.path.join(d, final + '.solverstate'), caffe_pb2.SolverState) for d in (straight, out)]
    assert states[0] == states[1]
    assert losses(out) == losses(straight)
    assert not glob.glob(os.path.join(out, '.train_iter_*')) and not os.path.exists(os.path.join(out, 'lock'))
    assert digest(experiment, data_root, os.path.join(out, 'notes.txt')) == given
