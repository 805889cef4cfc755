"""Caffe's gradient-descent solvers (sgd_solver.cpp and solvers/*.cpp).

SGDSolver holds the update pipeline all of them share (ApplyUpdate): learning
rate from the policy, global-norm clipping, normalization by iter_size,
L2/L1 regularization, the solver's update rule writing the step into each
param's diff (as Caffe does), then ``w -= diff``. A solver type is one
``compute_update`` rule plus the number of history sets it keeps.

All arithmetic is float32 torch on the params' device, in Caffe's order, with
scalars rounded to float32 as Caffe's ``Dtype`` does; nothing is read back to
the host during an update.
"""
import numpy as np
import torch

from ..errors import SolverError
from ..io import array_to_blobproto, blob_shape, blobproto_to_array, shape_equals
from ..proto import caffe_pb2
from .blob import Blob
from .lr_policy import learning_rate
from .solver import Solver, info, read_solver_param

f32 = np.float32

# The gradient of each regularizer, up to the weight decay factor.
REGULARIZERS = {'L2': lambda w: w, 'L1': torch.sign}


# Elements per piece of a CPU update: a param's data, diff and history pieces stay in
# cache through all of the update's steps instead of each step streaming whole tensors
# through memory (FCN-8s's 537 MB of weights: 0.24 s to 0.15-0.17 s, bench/README).
PIECE = 1 << 18


def _pieces(tensors):
    """Matching pieces of PIECE elements of ``tensors`` when they are CPU tensors stored
    alike (same shape and strides, dense), else the whole tensors as the one piece."""
    t = tensors[0]
    dense = t.is_contiguous() or t.is_contiguous(memory_format=torch.channels_last)
    if (t.device.type != 'cpu' or t.numel() <= PIECE or not dense
            or any(_layout(u) != _layout(t) for u in tensors)):
        return [tensors]
    flat = [u.as_strided((u.numel(),), (1,), u.storage_offset()) for u in tensors]
    return [[f[i:i + PIECE] for f in flat] for i in range(0, t.numel(), PIECE)]


def _layout(t):
    """Size and stride of each axis that is longer than 1 (a 1-long axis's stride is moot)."""
    return [(n, s) for n, s in zip(t.shape, t.stride()) if n != 1]


class SGDSolver(Solver):
    """Stochastic gradient descent with momentum: h = m h + rate g; w -= h."""

    history_sets = 1   # history blobs per learnable param

    def __init__(self, solver):
        super().__init__(solver)
        params = self.net.learnable_params
        self._history = [Blob(p.shape, p.device) for _ in range(self.history_sets) for p in params]

    def _check_param(self):
        # Bad settings fail here rather than halfway through an update.
        learning_rate(self._param, 0, 0, self._source)
        kind = self._param.regularization_type
        if self._param.weight_decay and kind not in REGULARIZERS:
            raise self.error("unknown regularization_type '%s' (known: %s)"
                             % (kind, ', '.join(REGULARIZERS)))

    @property
    def lr(self):
        """The current learning rate (Caffe's GetLearningRate; it also moves current_step)."""
        return float(self._learning_rate())

    def _learning_rate(self):
        rate, self.current_step = learning_rate(self._param, self.iter, self.current_step,
                                                self._source)
        return rate

    def _history_of(self, param_id):
        """The history tensors of learnable param ``param_id``, on its device and in its
        memory layout (channels_last mode re-stores convolution weights)."""
        n, param = len(self.net.learnable_params), self.net.learnable_params[param_id]
        blobs = self._history[param_id::n]
        cl = param.tdata.dim() == 4 and param.tdata.is_contiguous(memory_format=torch.channels_last)
        for b in blobs:
            b.to(param.device)
            if cl and not b.tdata.is_contiguous(memory_format=torch.channels_last):
                b.tdata = b.tdata.contiguous(memory_format=torch.channels_last)
        return [b.tdata for b in blobs]

    def apply_update(self):
        rate = self._learning_rate()
        display = self._displaying()
        if display:
            info('Iteration %d, lr = %g' % (self.iter, rate))
        params = self.net.learnable_params
        self._clip_gradients(params, display)
        # Each step is element-wise, so a param's steps, Net::Update's w -= diff last,
        # run piece by piece: the same arithmetic, with each piece kept in cache.
        for i, param in enumerate(params):
            decay = f32(self._param.weight_decay) * f32(self.net.params_weight_decay[i])
            param_rate = f32(rate) * f32(self.net.params_lr[i])
            for data, diff, *history in _pieces([param.tdata, param.tdiff] + self._history_of(i)):
                self._normalize(diff)
                self._regularize(decay, data, diff)
                self.compute_update(diff, history, param_rate)
                data.sub_(diff)
        self.iter += 1

    def _clip_gradients(self, params, display):
        """Scale all diffs by clip / ||g|| when the global L2 norm exceeds clip_gradients.

        The comparison happens on the device (a factor of 1 otherwise, which changes
        nothing), so clipping costs no host sync; it is logged on display iterations.
        """
        clip = f32(self._param.clip_gradients)
        if clip < 0 or not params:
            return
        diffs = [p.tdiff for p in params]
        norm = torch.stack([torch.dot(f, f) for f in (d.reshape(-1) for d in diffs)]).sum().sqrt()
        scale = torch.where(norm > float(clip), float(clip) / norm, torch.ones_like(norm))
        for d in diffs:  # in place on the blob: a channels_last diff reshapes to a copy
            d.mul_(scale)
        if display and float(norm) > clip:
            info('Gradient clipping: scaling down gradients (L2 norm %g > %g) by scale factor %g'
                 % (float(norm), clip, float(scale)))

    def _normalize(self, diff):
        if self._param.iter_size != 1:
            diff.mul_(float(f32(1) / f32(self._param.iter_size)))

    def _regularize(self, decay, data, diff):
        if decay:
            diff.add_(REGULARIZERS[self._param.regularization_type](data), alpha=float(decay))

    def compute_update(self, g, history, rate):
        """Turn gradient ``g`` into the update, in place; update ``history`` in place."""
        (h,) = history
        h.mul_(float(f32(self._param.momentum))).add_(g, alpha=float(rate))
        g.copy_(h)

    # -- solver state -----------------------------------------------------
    def _state_proto(self, model_filename):
        state = caffe_pb2.SolverState(iter=self.iter, learned_net=model_filename,
                                      current_step=self.current_step)
        for h in self._history:
            state.history.add().CopyFrom(array_to_blobproto(h.data))
        return state

    def _check_state(self, state, path):
        if len(state.history) != len(self._history):
            raise self.error('%s holds %d history blobs, this %s needs %d (%d per param): '
                             'a state of another solver type or net?'
                             % (path, len(state.history), type(self).__name__, len(self._history),
                                self.history_sets))
        for i, (h, b) in enumerate(zip(self._history, state.history)):
            if not shape_equals(b, h.shape):
                raise self.error('%s: history blob %d has shape %s, the param %s'
                                 % (path, i, blob_shape(b), h.shape))

    def _restore_history(self, state):
        for h, b in zip(self._history, state.history):
            h.data[...] = blobproto_to_array(b).reshape(h.shape)


class NesterovSolver(SGDSolver):
    """Nesterov's accelerated gradient: h' = m h + rate g; w -= (1 + m) h' - m h."""

    def compute_update(self, g, history, rate):
        (h,) = history
        m = f32(self._param.momentum)
        previous = h.clone()
        h.mul_(float(m)).add_(g, alpha=float(rate))
        g.copy_(previous.mul_(float(-m)).add_(h, alpha=float(f32(1) + m)))


class AdaGradSolver(SGDSolver):
    """AdaGrad: h += g^2; w -= rate g / (sqrt(h) + delta)."""

    def _check_param(self):
        super()._check_param()
        if self._param.momentum != 0:
            raise self.error('momentum cannot be used with AdaGrad (it is %g)' % self._param.momentum)

    def compute_update(self, g, history, rate):
        (h,) = history
        h.add_(g.square())
        g.div_(h.sqrt().add_(float(f32(self._param.delta)))).mul_(float(rate))


class RMSPropSolver(SGDSolver):
    """RMSProp: h = d h + (1 - d) g^2; w -= rate g / (sqrt(h) + delta)."""

    def _check_param(self):
        super()._check_param()
        p = self._param
        if p.momentum != 0:
            raise self.error('momentum cannot be used with RMSProp (it is %g)' % p.momentum)
        if not 0 <= p.rms_decay < 1:
            raise self.error('rms_decay should lie in [0, 1) (it is %g)' % p.rms_decay)

    def compute_update(self, g, history, rate):
        (h,) = history
        decay = f32(self._param.rms_decay)
        h.mul_(float(decay)).add_(g.square(), alpha=float(f32(1) - decay))
        g.div_(h.sqrt().add_(float(f32(self._param.delta)))).mul_(float(rate))


class AdaDeltaSolver(SGDSolver):
    """AdaDelta: squared gradients h1 and squared updates h2, both decayed by momentum;
    u = g sqrt((h2 + delta) / (h1 + delta)); w -= rate u."""

    history_sets = 2

    def compute_update(self, g, history, rate):
        h1, h2 = history
        m, delta = f32(self._param.momentum), float(f32(self._param.delta))
        h1.mul_(float(m)).add_(g.square(), alpha=float(f32(1) - m))
        g.mul_(((h2 + delta) / (h1 + delta)).sqrt_())
        h2.mul_(float(m)).add_(g.square(), alpha=float(f32(1) - m))
        g.mul_(float(rate))


class AdamSolver(SGDSolver):
    """Adam: moments m and v of g; w -= rate sqrt(1 - b2^t) / (1 - b1^t) m / (sqrt(v) + delta)."""

    history_sets = 2

    def compute_update(self, g, history, rate):
        m, v = history
        b1, b2 = f32(self._param.momentum), f32(self._param.momentum2)
        t = self.iter + 1
        # Caffe: pow(float, int) is computed in double, the correction stored as float.
        correction = f32(np.sqrt(1 - float(b2) ** t) / (1 - float(b1) ** t))
        m.mul_(float(b1)).add_(g, alpha=float(f32(1) - b1))
        v.mul_(float(b2)).add_(g.square(), alpha=float(f32(1) - b2))
        g.copy_(m / v.sqrt().add_(float(f32(self._param.delta)))).mul_(float(rate * correction))


SOLVERS = {'SGD': SGDSolver, 'Nesterov': NesterovSolver, 'AdaGrad': AdaGradSolver,
           'RMSProp': RMSPropSolver, 'AdaDelta': AdaDeltaSolver, 'Adam': AdamSolver}


def get_solver(solver):
    """The solver of the type the solver.prototxt (or SolverParameter) names."""
    source, param = read_solver_param(solver)
    cls = SOLVERS.get(param.type)
    if cls is None:
        raise SolverError("%s: unknown solver type '%s' (known: %s)"
                          % (source, param.type, ', '.join(SOLVERS)))
    return cls(solver)
