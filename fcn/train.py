"""The training driver behind every experiment's solve.py.

An experiment's solve.py names where its initial weights come from and which
heads it scores; everything else is here: command line, backend and device,
weights initialization (by layer name, from caffemodel files), bilinear init of
the upsampling layers, the training loop with Caffe's solver, scoring on the
val/test split every N iterations, snapshots, resuming, a JSON-lines log and a
training-curve PNG. Paths in solver.prototxt are relative to the experiment
directory, so solve.py runs from any working directory.
"""
import argparse
import contextlib
import functools
import glob
import json
import os
import re
import signal
import sys
import threading
import time

import numpy as np

from fcn import REPO, backend, rundir
from nets.data import data_options
from fcn.datasets import DataError
from fcn.runlog import Log
from torchcaffe.errors import first_nonfinite_top
from torchcaffe.errors import CaffeError, FormatError, SolverError
from torchcaffe.formats.files import atomic_write

# Errors whose message says what to fix: main prints it without a traceback.
EXPECTED = (DataError, CaffeError, OSError, ValueError)
PREFIX = 'train'  # snapshots are <out>/train_iter_N.caffemodel, .solverstate, .train.json
ILSVRC = os.path.join(REPO, 'ilsvrc-nets')
SURGERY_HINT = {
    'vgg16': 'python surgery.py ilsvrc-to-fcn --arch vgg16 --weights VGG_ILSVRC_16_layers.caffemodel '
             '--out ilsvrc-nets/vgg16-fcn.caffemodel',
    'caffenet': 'python surgery.py ilsvrc-to-fcn --arch caffenet --weights '
                'bvlc_reference_caffenet.caffemodel --out ilsvrc-nets/caffenet-fcn.caffemodel',
    'googlenet': 'python surgery.py ilsvrc-to-fcn --arch googlenet --weights bvlc_googlenet.caffemodel '
                 '--out ilsvrc-nets/googlenet-fcn.caffemodel',
}


class Source:
    """Initial weights: an ILSVRC twin made by surgery (``arch``) or another experiment's result."""

    def __init__(self, name, suffix=''):
        self.name, self.suffix = name, suffix

    def default_path(self):
        """The file this source names; None when an experiment has no weights yet."""
        if self.name in SURGERY_HINT:
            return os.path.join(ILSVRC, '%s-fcn.caffemodel' % self.name)
        return experiment_weights(os.path.join(REPO, self.name))

    def missing(self):
        """What to run to create the weights."""
        if self.name in SURGERY_HINT:
            return 'make them with: ' + SURGERY_HINT[self.name]
        return ('train that stage first (python %s/solve.py), or put its released model at %s/%s.caffemodel '
                '(see %s/caffemodel-url)' % (self.name, self.name, self.name, self.name))


def experiment_weights(directory):
    """``<exp>/<exp>.caffemodel`` (released or copied), else the newest snapshot, else None."""
    name = os.path.basename(os.path.normpath(directory))
    final = os.path.join(directory, name + '.caffemodel')
    if os.path.isfile(final):
        return final
    snapshots = glob.glob(os.path.join(directory, 'snapshot', '*_iter_*.caffemodel'))
    if not snapshots:
        return None
    return max(snapshots, key=lambda p: int(re.search(r'_iter_(\d+)\.caffemodel$', p).group(1)))


def read_params(path):
    """{layer: [arrays]} of a caffemodel, read without building a net (either backend)."""
    from torchcaffe.formats import read_weights
    from torchcaffe.io import blobproto_to_array
    return {layer.name: [blobproto_to_array(b) for b in layer.blobs]
            for layer in read_weights(path).layer if len(layer.blobs)}


def copy_params(net, params, suffix='', source='weights'):
    """Copy ``params`` into the layers of ``net`` named the same plus ``suffix``; return their names."""
    copied = []
    for layer, arrays in params.items():
        target = layer + suffix
        if target not in net.params:
            continue
        blobs = net.params[target]
        if len(blobs) != len(arrays):
            raise ValueError('%s: layer %s has %d parameter blobs, the net\'s %s has %d'
                             % (source, layer, len(arrays), target, len(blobs)))
        for i, (blob, array) in enumerate(zip(blobs, arrays)):
            if blob.data.size != array.size:
                raise ValueError('%s: %s[%d] has shape %s, the net\'s %s[%d] has shape %s'
                                 % (source, layer, i, array.shape, target, i, blob.data.shape))
            blob.data[...] = array.reshape(blob.data.shape)
        copied.append(target)
    return copied


def parse_args(description, argv):
    p = argparse.ArgumentParser(description=description)
    backend.add_argument(p)
    p.add_argument('--gpu', type=int, default=None, help='GPU id (default: CPU)')
    p.add_argument('--precision', choices=['fp32', 'tf32', 'bf16'], default='fp32',
                   help='torch backend: fp32 (default, as Caffe), tf32 (CUDA) or bf16 (activations '
                        'and convolutions in bfloat16; weights, solver and snapshots stay float32)')
    p.add_argument('--strict', action='store_true',
                   help='torch backend: compute in Caffe\'s own order and layout (NCHW, host memory '
                        'returned to the system) instead of the faster default that passes the same '
                        'parity tests')
    p.add_argument('--weights', nargs='+', default=None,
                   help='initial weights, one file per source, or "none" to start from the nets\' '
                        'fillers (default: the chain\'s previous stage)')
    p.add_argument('--resume', default=None, help='continue from a .solverstate snapshot')
    p.add_argument('--overwrite', action='store_true',
                   help='start over in an --out that holds an earlier run, deleting its snapshots and log')
    p.add_argument('--solver', default=None,
                   help='another solver prototxt, e.g. a momentum.py preset (default: the experiment\'s)')
    p.add_argument('--iters', type=int, default=None, help='train until this iteration (default: max_iter)')
    p.add_argument('--score-every', type=int, default=None,
                   help='score the val/test split every N iterations (0: never)')
    p.add_argument('--snapshot-every', type=int, default=None,
                   help='snapshot every N iterations (default: solver.prototxt, else --score-every)')
    p.add_argument('--data-root', default=None, help='datasets directory (default: $FCN_DATA_ROOT or data/)')
    p.add_argument('--out', default=None, help='snapshots, log and curve (default: <experiment>/snapshot)')
    p.add_argument('--display', type=int, default=None, help='log the loss every N iterations')
    p.add_argument('--seed', type=int, default=None, help='random seed of fillers and dropout')
    p.add_argument('--train-data', type=data_options, default=None, metavar='DICT',
                   help="options merged into the training data layer's param_str, e.g. \"{'mirror': True, "
                        "'jitter': 32}\" (docs/training-options.md); 'sample' also multiplies iter_size by 1/sample")
    p.add_argument('--score-data', type=data_options, default=None, metavar='DICT',
                   help="options merged into the scoring (test) data layer's param_str, e.g. \"{'mask': 'fg-only'}\"")
    args = p.parse_args(argv)
    if args.resume and args.weights:  # the snapshot holds the weights: the two would disagree
        p.error('--resume continues with its snapshot\'s weights: give --resume or --weights, not both')
    if args.resume and args.overwrite:
        p.error('--resume continues the run in --out, --overwrite deletes it: give one of them')
    return args


def solver_file(source, out, snapshot_every, train_data=None, score_data=None):
    """<out>/solver.prototxt: solver prototxt ``source`` with absolute paths (relative ones
    start at its directory), data options and our snapshot schedule, kept because the
    solver's errors name it; returns (path, param, snapshot interval)."""
    from torchcaffe.formats import prototxt, read_solver
    param = read_solver(source)
    here = os.path.dirname(os.path.abspath(source))
    for field in ('net', 'train_net'):
        if param.HasField(field):
            setattr(param, field, os.path.join(here, getattr(param, field)))
    for i, name in enumerate(param.test_net):
        param.test_net[i] = os.path.join(here, name)
    set_data_options(param, train_data, score_data)
    schedule = snapshot_every if snapshot_every is not None else param.snapshot
    param.snapshot = 0  # the driver snapshots, so scoring and snapshots share one schedule
    # <out>/train_iter_N.caffemodel for every experiment; relative, so a snapshot's learned_net
    # names the model beside it and a moved or copied run stays whole (the driver snapshots in <out>)
    param.snapshot_prefix = PREFIX
    path = os.path.join(out, 'solver.prototxt')
    prototxt.write(path, param)
    return path, param, schedule


def set_data_options(param, train_data, score_data):
    """Inline the solver's nets with data options merged into their data layers.

    Loss sampling keeps each cell with probability p, so iter_size grows by 1/p
    (rounded) to keep the effective batch size, as in the paper (section 4.4).
    """
    from nets.data import with_data_options
    from torchcaffe.formats import read_net
    if train_data:
        if not param.HasField('train_net'):
            raise ValueError('--train-data needs a solver with train_net')
        param.train_net_param.CopyFrom(with_data_options(read_net(param.train_net), train_data))
        param.ClearField('train_net')
        p = train_data.get('sample', 1)
        if not (type(p) in (int, float) and 0 < p <= 1):
            raise ValueError("--train-data: 'sample' must be a probability in (0, 1], got %r" % (p,))
        param.iter_size = max(1, round(param.iter_size / p))
    if score_data:
        for path in param.test_net:
            param.test_net_param.add().CopyFrom(with_data_options(read_net(path), score_data))
        param.ClearField('test_net')
    if train_data or score_data:
        print('data options: train %s, score %s; iter_size %d' % (train_data, score_data, param.iter_size))


def weighted_loss(net):
    """Sum of loss_weight * loss over the net's loss blobs."""
    return float(sum(w * float(net.blobs[b].data.reshape(-1)[0])
                     for b, w in net.blob_loss_weights.items() if w))


def weight_files(sources, weights):
    """The initial weights file of each source; raises saying how to make a missing one."""
    if weights == ['none']:
        return []
    paths = weights or [s.default_path() for s in sources]
    if len(paths) != len(sources):
        raise ValueError('--weights needs %d file(s): %s' % (len(sources), ', '.join(s.name for s in sources)))
    for source, path in zip(sources, paths):
        if path is None or not os.path.isfile(path):
            raise FileNotFoundError('initial weights %s not found: %s'
                                    % (path or 'of ' + source.name, source.missing()))
    return paths


def initialize(net, sources, paths, init_hook):
    """Load the initial weights by layer name (with suffixes), then the experiment's own surgery."""
    if not paths:
        print('init: no initial weights, the layers keep their fillers')
    for source, path in zip(sources, paths):
        params = read_params(path)
        copied = copy_params(net, params, source.suffix, path)
        print('init: %d layers from %s%s' % (len(copied), path,
                                            ' (suffix %s)' % source.suffix if source.suffix else ''))
        if init_hook is not None:
            init_hook(net, params)


def data_layer(net):
    """The net's Python data layer object, if it can report and restore its position."""
    layer = net.layers[0]
    return layer if hasattr(layer, 'restore') and hasattr(layer, 'state') else None


def snapshot(solver, out, window, keep=None):
    """The solver's snapshot in ``out``, after ``<out>/train_iter_N.train.json``: what this
    driver needs to continue exactly as if never stopped, the data layer's state (its seed
    too, drawn at setup when the net gives none) and the losses since the last log line.
    Then, with ``keep``, older snapshots go but the newest ``keep``. Returns the solverstate."""
    layer = data_layer(solver.net)
    state = {'iter': solver.iter, 'data': layer.state if layer else None, 'window': window}
    prefix = os.path.join(out, PREFIX)
    path = '%s_iter_%d.train.json' % (prefix, solver.iter)
    try:
        atomic_write(path, json.dumps(state).encode())
    except OSError as e:
        raise SolverError("iteration %d: cannot write snapshot '%s': %s"
                          % (solver.iter, path, e.strerror or e)) from None
    with contextlib.chdir(out):  # the solver's prefix is relative to the run directory
        solver.snapshot()  # its solverstate is written last: a run resumes from complete files
    if keep:
        prune(prefix, keep)
    return '%s_iter_%d.solverstate' % (prefix, solver.iter)


def snapshots(prefix):
    """{iteration: solverstate} of the complete snapshots ``<prefix>_iter_N`` (their
    solverstate, written last, and caffemodel are there)."""
    found = {}
    for path in glob.glob(glob.escape(prefix) + '_iter_*.solverstate'):
        m = re.search(r'_iter_(\d+)\.solverstate$', path)
        if m and os.path.isfile(path[:-len('solverstate')] + 'caffemodel'):
            found[int(m.group(1))] = path
    return found


def prune(prefix, keep):
    """Delete the files of every snapshot ``<prefix>_iter_N`` but the newest ``keep`` complete ones."""
    newest = sorted(snapshots(prefix))[-keep:]
    for path in glob.glob(glob.escape(prefix) + '_iter_*'):
        m = re.match(r'_iter_(\d+)\.', path[len(prefix):])
        if m and newest and int(m.group(1)) < newest[0]:
            os.remove(path)


def restore_dir(state_file):
    """The directory ``state_file``'s learned_net is relative to: its own (this driver's
    snapshots) or the working directory (Caffe's, where it names the caffemodel beside the
    file). One that names another file, as an older snapshot moved or copied with its run
    directory does, is rewritten to name the caffemodel beside it."""
    from torchcaffe.formats import binaryproto
    from torchcaffe.proto import caffe_pb2
    here = os.path.dirname(os.path.abspath(state_file))
    beside = os.path.splitext(os.path.basename(state_file))[0] + '.caffemodel'
    state = binaryproto.read(state_file, caffe_pb2.SolverState)
    for where in (here, os.getcwd()):
        if os.path.normpath(os.path.join(where, state.learned_net)) == os.path.join(here, beside):
            return where
    if state.learned_net and os.path.isfile(os.path.join(here, beside)):
        print('resume: %s named %s; it now names %s beside it' % (state_file, state.learned_net, beside))
        state.learned_net = beside
        binaryproto.write(state_file, state)
    return here


def resume(solver, param, state_file):
    """Restore ``state_file`` and the driver's state beside it; return the loss window."""
    state_file = os.path.abspath(state_file)
    with contextlib.chdir(restore_dir(state_file)):
        solver.restore(state_file)
    path = os.path.splitext(state_file)[0] + '.train.json'
    try:
        with open(path) as f:
            state = json.load(f)
    except FileNotFoundError:  # written by another driver: the data position follows from iter
        state = {'data': None, 'window': []}
    except ValueError as e:
        raise FormatError('%s: not a training state (JSON): %s' % (path, e)) from None
    if not isinstance(state, dict) or state.get('iter', solver.iter) != solver.iter:
        raise FormatError('%s: not the training state of %s' % (path, state_file))
    layer = data_layer(solver.net)
    if layer is not None:  # continue the data order where the snapshot was taken
        layer.restore(state.get('data') or dict(layer.state, position=solver.iter * param.iter_size))
    return state.get('window', [])


def main(experiment, sources, heads=(('score', 'label'),), score_every=4000, exclude=None,
         init_hook=None, argv=None):
    """Train ``experiment`` (its directory) from ``sources``; see ``--help``."""
    description = 'Train %s (solver.prototxt there) and score it as it learns.' % os.path.basename(experiment)
    args = parse_args(description, argv)
    try:
        run(experiment, sources, heads, score_every, exclude, init_hook, args)
    except EXPECTED as e:  # bad data or files: the message says what to fix
        sys.exit('error: %s' % e)
    except Interrupted as e:
        e.exit('python %s --resume %s (and this run\'s other options, without --weights)' % (sys.argv[0], e.state))
    except KeyboardInterrupt:  # a second Ctrl-C: no snapshot of this iteration
        sys.exit('\naborted: continue from the newest complete snapshot with --resume')


def run(experiment, sources, heads, score_every, exclude, init_hook, args, init=None, names=None,
        hooks=(), log_dir=None, keep=None):
    """Train as ``args`` say (see parse_args). For drivers other than solve.py (fcn train):
    ``init(net)`` initializes the weights instead of ``sources`` (then upsampling is made
    bilinear), ``names`` are the class names of the scores and the log, ``hooks`` run
    after the driver's own at each step (see train), ``log_dir`` holds the log and charts
    (default: the output directory), and only the newest ``keep`` snapshots stay (default: all)."""
    if init is None:
        paths = [] if args.resume else weight_files(sources, args.weights)
        init = functools.partial(initialize, sources=sources, paths=paths, init_hook=init_hook)
    caffe, rank, world = start(args)
    out = os.path.abspath(args.out or os.path.join(experiment, 'snapshot'))
    log_dir = log_dir or out
    os.makedirs(out, exist_ok=True)
    with rundir.lock(out) if rank == 0 else contextlib.nullcontext():
        if rank == 0:
            if args.resume:  # a killed run's unfinished writes go
                for partial in rundir.unfinished(out, PREFIX):
                    os.remove(partial)
            else:
                rundir.claim(out, PREFIX, log_dir, args.overwrite)
        score_every = score_every if args.score_every is None else args.score_every
        source = args.solver or os.path.join(experiment, 'solver.prototxt')
        path, param, snapshot_every = solver_file(source, out, args.snapshot_every, args.train_data,
                                                  args.score_data)
        snapshot_every = snapshot_every or score_every
        solver = caffe.get_solver(path)
        if args.display is not None:
            param.display = args.display
        log = Log(log_dir, names=names) if rank == 0 else None
        window = []
        if args.resume:
            window = resume(solver, param, args.resume)
            if log:
                log.truncate(solver.iter)
            print('resumed from %s at iteration %d' % (args.resume, solver.iter))
        else:
            init(solver.net)
            from fcn import surgery
            surgery.interp(solver.net, [k for k in solver.net.params if k.startswith('up')])
        if world > 1:
            from torchcaffe.engine import parallel
            parallel.attach(solver)
        iters = args.iters or param.max_iter
        if log is None:  # data-parallel replicas other than rank 0 only step
            hooks = []
        else:
            hooks = [Display(log, param, param.display or 20, window, path),
                     Scoring(log, score_every, heads, exclude, names), *hooks,
                     Snapshots(out, snapshot_every, keep)]
        # Replicas of a data-parallel run must stop at one iteration: torchrun's own handling ends them.
        with Stop() if world == 1 else contextlib.nullcontext() as stop:
            train(solver, iters, hooks, stop)


def start(args):
    """The backend and device ``args`` name, set up; (caffe module, rank, world size).
    Under torchrun each process is one data-parallel replica."""
    if args.data_root:
        os.environ['FCN_DATA_ROOT'] = os.path.abspath(args.data_root)
    caffe = backend.load(args.backend)
    rank, world = backend.shard()
    local = 0
    if world > 1:  # launched by torchrun: one data-parallel replica per process
        if caffe.__name__ != 'torchcaffe':
            raise ValueError('data-parallel training (torchrun) needs the torch backend')
        from torchcaffe.engine import parallel
        local = parallel.start(args.gpu is not None)
    if args.gpu is not None:
        caffe.set_device(args.gpu + local)
        caffe.set_mode_gpu()
    else:
        caffe.set_mode_cpu()
    if args.seed is not None:
        caffe.set_random_seed(args.seed)
    mode = ''
    if caffe.__name__ == 'torchcaffe':
        caffe.set_strict(args.strict)
        caffe.set_precision(args.precision)
        mode = ', ' + caffe.engine.device.describe()
    elif args.precision != 'fp32' or args.strict:
        raise ValueError('--precision and --strict are settings of the torch backend')
    if rank == 0:
        print('backend: %s (%s) on %s%s' % (
            os.environ['FCN_BACKEND'], os.path.dirname(caffe.__file__),
            'CPU' if args.gpu is None else 'GPU %d' % (args.gpu + local), mode))
    return caffe, rank, world


def train(solver, iters, hooks, stop=None):
    """The training loop: the solver's step to ``iters``, one iteration at a time; after each,
    every hook is called with the solver and this step's record, a dict that holds the
    iteration (``iter``), whether it is the ``last``, whether training was ``stopped`` there
    by a signal caught by ``stop`` (a Stop), and what earlier hooks added to it. A stopped
    run raises Interrupted after the hooks (which snapshot it)."""
    while solver.iter < iters:
        solver.step(1)
        last = solver.iter >= iters
        step = {'iter': solver.iter, 'last': last, 'iters': iters,
                'stopped': bool(stop and stop.signal) and not last}
        for hook in hooks:
            hook(solver, step)
        if step['stopped']:
            raise Interrupted(stop.signal, solver.iter, step.get('snapshot'))


class Interrupted(Exception):
    """Training stopped by a signal after iteration ``iteration``; ``state``: its snapshot's solverstate."""

    def __init__(self, signum, iteration, state):
        super().__init__('%s: stopped after iteration %d%s' % (
            signal.Signals(signum).name, iteration, '; snapshot written' if state else ''))
        self.signal, self.iteration, self.state = signum, iteration, state

    def exit(self, resume):
        """For entry points: say where training stopped and how to continue (``resume``); exit 128 + the signal."""
        print('\n%s; continue with: %s' % (self, resume), file=sys.stderr)
        sys.exit(128 + self.signal)


class Stop:
    """While active (in the main thread), SIGINT and SIGTERM ask the loop to stop after the
    current iteration with a snapshot, like Caffe's -sigint_effect snapshot; a second
    SIGINT aborts at once (KeyboardInterrupt)."""

    def __init__(self):
        self.signal, self.previous = None, {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = {s: signal.signal(s, self._catch) for s in (signal.SIGINT, signal.SIGTERM)}
        return self

    def __exit__(self, *exc):
        for s, handler in self.previous.items():
            signal.signal(s, handler)

    def _catch(self, signum, frame):
        if self.signal is not None and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.signal = signum
        # os.write, not print: a handler may run while print is writing
        os.write(2, b'\nstopping after this iteration, with a snapshot (Ctrl-C again aborts)\n')


class Display:
    """Checks each loss; logs and prints their mean every ``every`` iterations (the losses since
    then are the step's ``window``); a progress bar on a terminal; the charts at the end."""

    def __init__(self, log, param, every, window, source):
        self.log, self.param, self.every, self.window, self.source = log, param, every, window, source
        self.tty = sys.stdout.isatty()  # a log file gets the display lines only
        self.start = self.began = time.time()
        self.first = None

    def __call__(self, solver, step):
        it, iters = step['iter'], step['iters']
        if self.first is None:
            self.first = it - 1
        loss = weighted_loss(solver.net)
        if not np.isfinite(loss):  # Caffe's solver updates anyway: stop before a snapshot of that
            raise SolverError('%s: iteration %d: the loss is %s; %s. Training stopped; the last '
                              'snapshot is intact' % (self.source, it - 1, loss, first_nonfinite_top(solver.net)))
        self.window.append(loss)
        if it % self.every == 0 or step['last']:
            rate = len(self.window) / max(time.time() - self.start, 1e-9)
            mean = float(np.mean(self.window))
            self.log.write(iter=it, loss=mean, lr=float(solver_lr(solver, self.param)))
            print('%siter %d  loss %.6g  (%.2f it/s, %s to go)' % ('\r\033[K' if self.tty else '', it, mean, rate,
                                                                   eta((iters - it) / rate)), flush=True)
            self.window, self.start = [], time.time()
        step['window'] = self.window
        if self.tty:
            from fcn import score
            rate = (it - self.first) / max(time.time() - self.began, 1e-9)
            score.progress(it, iters, 'training', sys.stdout, 'loss %.4g, %s to go' % (loss, eta((iters - it) / rate)))
        if step['last']:
            self.log.plot()
            print('log: %s\ncurve: %s' % (self.log.path, self.log.curve))


class Scoring:
    """Scores the test net every ``every`` iterations and at the last; the step's ``scores``."""

    def __init__(self, log, every, heads, exclude, names):
        self.log, self.every, self.heads, self.exclude, self.names = log, every, heads, exclude, names
        self.dataset = None

    def __call__(self, solver, step):
        if not (self.every and (step['iter'] % self.every == 0 or step['last']) and solver.test_nets):
            return
        from fcn import score
        if self.dataset is None:
            self.dataset = test_ids(solver.test_nets[0])
        step['scores'] = score.seg_tests(solver, None, self.dataset, heads=self.heads, exclude=self.exclude,
                                         per_class=self.names is not None, names=self.names)
        self.log.score(step['iter'], step['scores'])


class Snapshots:
    """A snapshot in ``out`` every ``every`` iterations and at the last (Caffe's snapshot_after_train)."""

    def __init__(self, out, every, keep):
        self.out, self.every, self.keep = out, every, keep

    def __call__(self, solver, step):
        if (self.every and step['iter'] % self.every == 0) or step['last'] or step['stopped']:
            step['snapshot'] = snapshot(solver, self.out, step.get('window', []), self.keep)


def solver_lr(solver, param):
    """The current learning rate where the backend exposes it, else the base rate."""
    return getattr(solver, 'lr', param.base_lr)


def test_ids(net):
    """Ids of the test net's split, from its data layer (one forward each)."""
    layer = net.layers[0]
    reader = getattr(layer, 'reader', None)
    if reader is None:
        raise ValueError('the test net\'s first layer is not one of layers.py\'s data layers')
    return list(reader.ids)


def eta(seconds):
    seconds = int(seconds)
    return '%d:%02d:%02d' % (seconds // 3600, seconds // 60 % 60, seconds % 60)
