"""Solver: Caffe's training loop (solver.cpp) on the torch engine.

The base class owns what every Caffe solver shares: the train and test nets
built from the SolverParameter, ``step`` (clear diffs, test when due, iter_size
forward/backward passes, smoothed loss, display, update, snapshot when due),
``solve``, testing, and the snapshot and restore protocol. The update itself
(learning rate, history, the update rule) and the solver state's history are
the subclass's (sgd_solvers.py), as in Caffe.

Paths inside a solver (``net``, ``train_net``, ``test_net``, ``weights``,
``snapshot_prefix``) and a solverstate's ``learned_net`` are relative to the
working directory, as in Caffe.
"""
import logging
import math
import os
import tempfile
import time

import numpy as np

from ..errors import CaffeError, SolverError, first_nonfinite_top
from ..formats import binaryproto, read_net, read_solver, rngstate
from ..formats.upgrade import upgrade_solver
from ..proto import caffe_pb2
from . import device
from .net import Net, TRAIN, TEST

_log = logging.getLogger(__name__)
f32 = np.float32


def info(message):
    """Log like Caffe's LOG(INFO): to logging when the application set it up, else stdout."""
    if _log.hasHandlers():
        _log.info(message)
    else:
        print(message, flush=True)


def read_solver_param(solver):
    """``(source, SolverParameter)`` from a solver.prototxt path or a message (copied)."""
    if isinstance(solver, caffe_pb2.SolverParameter):
        param = caffe_pb2.SolverParameter()
        param.CopyFrom(solver)
        upgrade_solver(param)
        return '<SolverParameter>', param
    path = os.fspath(solver)
    return path, read_solver(path)


class Solver:
    """pycaffe's Solver: ``net``, ``test_nets``, ``iter``, ``step``, ``solve``,
    ``snapshot``, ``restore``, ``param``. Built from a solver.prototxt path or a
    SolverParameter."""

    def __init__(self, solver):
        self._source, self._param = read_solver_param(solver)
        for field in ('average_loss', 'iter_size'):
            if getattr(self._param, field) < 1:
                raise self.error('%s must be >= 1 (it is %d)' % (field, getattr(self._param, field)))
        for field, value in self._param.ListFields():  # a NaN setting would fill the weights with NaN
            if field.cpp_type in (field.CPPTYPE_FLOAT, field.CPPTYPE_DOUBLE) and not math.isfinite(value):
                raise self.error('%s must be a finite number (it is %s)' % (field.name, value))
        self._check_param()
        self._check_snapshot_target()
        if self._param.random_seed >= 0:
            device.set_random_seed(self._param.random_seed)
        self.net = self._train_net()
        self.test_nets = self._test_nets()
        self.iter = 0
        self.current_step = 0
        self._losses, self._smoothed_loss = [], 0.0
        self._callbacks = []

    def add_callback(self, on_start, on_gradients_ready):
        """Call ``on_start()`` before each iteration's passes and ``on_gradients_ready()``
        before its update (pycaffe's hook, used for multi-process gradient reduction)."""
        self._callbacks.append((on_start, on_gradients_ready))

    @property
    def param(self):
        """The SolverParameter (live: changes take effect at the next use)."""
        return self._param

    def error(self, message):
        return SolverError('%s: %s' % (self._source, message))

    def _check_param(self):
        """Settings a solver type requires (Caffe's constructor CHECKs)."""

    # -- nets -------------------------------------------------------------
    def _net_param(self, field, value):
        """NetParameter of solver field ``field``: a message, or a prototxt file to read."""
        if isinstance(value, caffe_pb2.NetParameter):
            param = caffe_pb2.NetParameter()
            param.CopyFrom(value)
            return param
        try:
            return read_net(value)
        except CaffeError as e:
            raise self.error('%s "%s": %s' % (field, value, e)) from None

    def _build_net(self, net_param, phase, state=None):
        """Caffe's NetState precedence: the phase, then the net's own state, then ``state``."""
        merged = caffe_pb2.NetState(phase=phase)
        merged.MergeFrom(net_param.state)
        if state is not None:
            merged.MergeFrom(state)
        net = Net(net_param, merged.phase, level=merged.level, stages=list(merged.stage))
        for models in self._param.weights:   # comma-separated lists, as in Caffe
            for model in models.split(','):
                net.copy_from(model.strip())
        return net

    def _train_net(self):
        p = self._param
        fields = [f for f in ('net', 'net_param', 'train_net', 'train_net_param') if p.HasField(f)]
        if len(fields) != 1:
            raise self.error('give exactly one train net (net, net_param, train_net or '
                             'train_net_param); found %s' % (', '.join(fields) or 'none'))
        field = fields[0]
        net_param = self._net_param(field, getattr(p, field))
        return self._build_net(net_param, TRAIN, p.train_state if p.HasField('train_state') else None)

    def _test_nets(self):
        """Caffe's InitTestNets: test_net_param, test_net, then the generic net per extra test_iter."""
        p = self._param
        generic = [f for f in ('net', 'net_param') if p.HasField(f)]
        if len(generic) > 1:
            raise self.error('give net or net_param, not both')
        sources = [('test_net_param', m) for m in p.test_net_param]
        sources += [('test_net', f) for f in p.test_net]
        if len(p.test_iter) < len(sources) or (not generic and len(p.test_iter) != len(sources)):
            raise self.error('give one test_iter per test net (%d test_iter for %d test nets)'
                             % (len(p.test_iter), len(sources)))
        if generic:
            sources += [(generic[0], getattr(p, generic[0]))] * (len(p.test_iter) - len(sources))
        if len(p.test_state) and len(p.test_state) != len(sources):
            raise self.error('give test_state once per test net or not at all (%d for %d test nets)'
                             % (len(p.test_state), len(sources)))
        if sources and p.test_interval <= 0:
            raise self.error('test nets need test_interval > 0')
        return [self._build_net(self._net_param(field, value), TEST,
                                p.test_state[i] if len(p.test_state) else None)
                for i, (field, value) in enumerate(sources)]

    # -- training ---------------------------------------------------------
    def step(self, iters):
        """Run ``iters`` iterations (Caffe's Solver::Step)."""
        p = self._param
        start_iter, stop_iter = self.iter, self.iter + iters
        self._losses, self._smoothed_loss = [], 0.0
        self._timer, self._iter_last = time.perf_counter(), self.iter
        while self.iter < stop_iter:
            self.net.clear_param_diffs()
            if p.test_interval and self.iter % p.test_interval == 0 and \
                    (self.iter > 0 or p.test_initialization):
                self.test_all()
            for on_start, _ in self._callbacks:
                on_start()
            loss = sum(self._forward_backward() for _ in range(p.iter_size)) / p.iter_size
            self._update_smoothed_loss(loss, start_iter)
            if self._displaying():
                self._display()
            for _, on_gradients_ready in self._callbacks:
                on_gradients_ready()
            self.apply_update()
            if p.snapshot and self.iter % p.snapshot == 0:
                self.snapshot()

    def solve(self, resume_file=None):
        """Train to max_iter, restoring ``resume_file`` first (Caffe's Solver::Solve)."""
        p = self._param
        info('Solving %s' % self.net.name)
        info('Learning Rate Policy: %s' % p.lr_policy)
        if resume_file:
            info('Restoring previous solver status from %s' % resume_file)
            self.restore(resume_file)
        start_iter = self.iter
        self.step(p.max_iter - self.iter)
        if p.snapshot_after_train and (not p.snapshot or self.iter % p.snapshot != 0):
            self.snapshot()
        if self._displaying():   # a last forward only, to show the final loss
            loss = self.net._forward(0, len(self.net.layers) - 1)
            self._update_smoothed_loss(loss, start_iter)
            info('Iteration %d, loss = %g' % (self.iter, self._smoothed_loss))
        if p.test_interval and self.iter % p.test_interval == 0:
            self.test_all()
        info('Optimization Done.')

    def share_weights(self, net):
        """Make ``net`` use this solver's train-net parameters (pycaffe's share_weights)."""
        net.share_with(self.net)

    def apply_update(self):
        """Turn the accumulated gradients into a weight update; advance ``iter``."""
        raise NotImplementedError

    def _forward_backward(self):
        """One forward and backward pass; stops on a non-finite loss."""
        last = len(self.net.layers) - 1
        losses = self.net._launch_forward(0, last)
        self.net._backward(last, 0)  # queued before the loss is read: the device keeps busy
        loss = self.net._weighted_loss(losses)
        if not math.isfinite(loss):
            raise self.error("iteration %d: the loss is %s; %s. Training stopped before this "
                             "iteration's update: the weights are unchanged and no snapshot of "
                             "them was written" % (self.iter, loss, first_nonfinite_top(self.net)))
        return loss

    def _update_smoothed_loss(self, loss, start_iter):
        """Mean of the last ``average_loss`` losses (Caffe's UpdateSmoothedLoss)."""
        n = self._param.average_loss
        if len(self._losses) < n:
            self._losses.append(loss)
            size = len(self._losses)
            self._smoothed_loss = (self._smoothed_loss * (size - 1) + loss) / size
        else:
            idx = (self.iter - start_iter) % n
            self._smoothed_loss += (loss - self._losses[idx]) / n
            self._losses[idx] = loss

    def _displaying(self):
        return bool(self._param.display) and self.iter % self._param.display == 0

    def _display(self):
        lapse = time.perf_counter() - self._timer
        per_s = (self.iter - self._iter_last) / (lapse or 1)
        info('Iteration %d (%g iter/s, %.3gs/%d iters), loss = %g'
             % (self.iter, per_s, lapse, self._param.display, self._smoothed_loss))
        self._timer, self._iter_last = time.perf_counter(), self.iter
        _log_outputs(self.net, 'Train', [self.net.blobs[n].data.ravel() for n in self.net.outputs])

    # -- testing ----------------------------------------------------------
    def test_all(self):
        for i in range(len(self.test_nets)):
            self.test(i)

    def test(self, test_net_id=0):
        """Run test net ``test_net_id`` for its test_iter; log and return the mean of each output.

        Returns {output blob: float32 array of its shape}, averaged over the iterations
        like Caffe (float32 sums divided by test_iter).
        """
        p, net = self._param, self.test_nets[test_net_id]
        iters = p.test_iter[test_net_id]
        info('Iteration %d, Testing net (#%d)' % (self.iter, test_net_id))
        net.share_with(self.net)
        loss, sums = f32(0), None
        for _ in range(iters):
            losses = net._launch_forward(0, len(net.layers) - 1)
            if p.test_compute_loss:
                loss += f32(net._weighted_loss(losses))
            outputs = [net.blobs[n].tdata for n in net.outputs]   # summed on the device
            if sums is None:
                sums = [o.clone() for o in outputs]
            else:
                for s, o in zip(sums, outputs):
                    s.add_(o)
        if p.test_compute_loss:
            info('Test loss: %g' % (loss / f32(iters)))
        if sums is None:
            return {}
        means = [(s.cpu().numpy() / f32(iters)).astype(f32) for s in sums]
        _log_outputs(net, 'Test', [m.ravel() for m in means])
        return dict(zip(net.outputs, means))

    # -- snapshots --------------------------------------------------------
    def _check_snapshot_target(self):
        """Fail early when periodic snapshots could not be written (Caffe's probe at Init)."""
        p = self._param
        if not p.snapshot:
            return
        self._check_snapshot_format()
        if not p.HasField('snapshot_prefix'):
            raise self.error('snapshot is given but snapshot_prefix is not')
        directory = os.path.dirname(p.snapshot_prefix) or '.'
        try:
            fd, probe = tempfile.mkstemp(prefix='.snapshot-probe-', dir=directory)
            os.close(fd)
            os.unlink(probe)
        except OSError as e:
            raise self.error("cannot write to snapshot_prefix '%s' (%s): make sure the directory "
                             'exists and is writable' % (p.snapshot_prefix, e.strerror)) from None

    def _check_snapshot_format(self):
        if self._param.snapshot_format == caffe_pb2.SolverParameter.HDF5:
            raise self.error('snapshot_format HDF5 is not supported by the torch engine; '
                             'use snapshot_format: BINARYPROTO')

    def _snapshot_filename(self, extension):
        return '%s_iter_%d%s' % (self._param.snapshot_prefix, self.iter, extension)

    def snapshot(self):
        """Write ``<prefix>_iter_N.caffemodel``, ``.rngstate``, then ``.solverstate``
        (each atomically).

        The solverstate goes last, so it never names a model that is missing or partly
        written, and its random generator states are there when it is; a failed write
        raises SolverError and leaves older files intact. Non-finite weights are
        refused: the last good snapshot stays the last one.
        """
        self._check_snapshot_format()
        _check_finite_params(self)
        model = self._snapshot_filename('.caffemodel')
        info('Snapshotting to binary proto file %s' % model)
        self._write(binaryproto.write, model, self.net.to_proto(self._param.snapshot_diff))
        self._write(rngstate.write, self._snapshot_filename('.rngstate'), rngstate.capture())
        state = self._snapshot_filename('.solverstate')
        info('Snapshotting solver state to binary proto file %s' % state)
        self._write(binaryproto.write, state, self._state_proto(model))

    def _write(self, write, path, content):
        try:
            write(path, content)
        except OSError as e:
            where = '' if os.path.isabs(path) else ' in %s' % os.getcwd()  # a relative prefix: say where
            raise self.error("iteration %d: cannot write snapshot '%s'%s: %s"
                             % (self.iter, path, where, e.strerror or e)) from None

    def restore(self, state_file):
        """Continue from a .solverstate: iter, current_step, history, its learned_net
        and the random generator states of the .rngstate beside it.

        ``learned_net`` is opened as written in the file, i.e. relative to the working
        directory (Caffe's RestoreSolverStateFromBinaryProto does the same).
        """
        path = os.fspath(state_file)
        if path.endswith('.h5'):
            raise SolverError('%s: HDF5 solver states are not supported by the torch engine' % path)
        state = binaryproto.read(path, caffe_pb2.SolverState)
        self._check_state(state, path)
        if state.HasField('learned_net'):
            try:
                self.net.copy_from(state.learned_net)
            except CaffeError as e:
                raise SolverError('%s: learned_net "%s" (relative to the working directory %s): %s'
                                  % (path, state.learned_net, os.getcwd(), e)) from None
        self.iter = state.iter
        self.current_step = state.current_step
        self._restore_history(state)
        self._restore_rng(path)

    def _restore_rng(self, state_file):
        """Continue torch's random draws (Dropout masks) from the snapshot's .rngstate,
        when it has one: without it the masks differ from the uninterrupted run's."""
        stem = state_file[:-len('.solverstate')] if state_file.endswith('.solverstate') else state_file
        path = stem + '.rngstate'
        if os.path.exists(path):
            rngstate.apply(rngstate.read(path))
        else:
            info('No %s: random draws (Dropout) restart from the seed' % path)

    def _state_proto(self, model_filename):
        """The SolverState message of this solver, naming ``model_filename``."""
        raise NotImplementedError

    def _check_state(self, state, path):
        """Raise SolverError when ``state`` does not fit this solver."""
        raise NotImplementedError

    def _restore_history(self, state):
        raise NotImplementedError


def _log_outputs(net, which, values):
    """Caffe's per-element output lines, with the weighted loss for loss outputs."""
    weights = net.blob_loss_weights
    index = 0
    for name, vec in zip(net.outputs, values):
        weight = f32(weights[name])
        for v in vec:
            extra = ' (* %g = %g loss)' % (weight, weight * v) if weight else ''
            info('    %s net output #%d: %s = %g%s' % (which, index, name, v, extra))
            index += 1


def _check_finite_params(solver):
    for layer, blobs in solver.net.params.items():
        for i, blob in enumerate(blobs):
            if not np.isfinite(blob.data).all():
                raise solver.error("iteration %d: param %d of layer '%s' is not finite; "
                                   'no snapshot written' % (solver.iter, i, layer))
