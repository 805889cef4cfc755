"""Elementwise ("neuron") layers."""
import numpy as np
import torch

from ...proto import caffe_pb2
from .. import repeats
from ..layer import Layer, register

TRAIN = caffe_pb2.TRAIN


class Neuron(Layer):
    exact_bottoms = 1
    exact_tops = 1

    def reshape(self, bottom, top):
        top[0].reshape(bottom[0].shape)


@register('ReLU')
class ReLU(Neuron):
    low_precision = True

    def forward(self, bottom, top):
        packed = bottom[0].packed()  # elementwise: a packed map stays packed (repeats.py)
        x = bottom[0].tdata if packed is None else packed.tensor
        slope = self.param.relu_param.negative_slope
        y = torch.relu(x) if slope == 0 else torch.where(x > 0, x, x * slope)
        if packed is None:
            top[0].tdata = y
        else:
            top[0].set_packed(repeats.Packed(y, packed.runs))

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        # In place, bottom data is the output, which is > 0 exactly where the input was.
        g = top[0].tdiff
        slope = self.param.relu_param.negative_slope
        if slope == 0:  # one pass, no g * 0 temporary
            bottom[0].tdiff = torch.ops.aten.threshold_backward(g, bottom[0].tdata, 0)
        else:
            bottom[0].tdiff = torch.where(bottom[0].tdata > 0, g, g * slope)


@register('Dropout')
class Dropout(Neuron):
    """TRAIN: zero each unit with probability p, scale the rest by 1/(1-p). TEST: identity."""
    low_precision = True

    def layer_setup(self, bottom, top):
        p = self.param.dropout_param.dropout_ratio
        if not 0 <= p < 1:
            raise self.error('dropout_ratio must be in [0, 1), got %g' % p)
        self.ratio = p
        self.scale = float(np.float32(1.0 / (1.0 - np.float64(np.float32(p)))))

    def forward(self, bottom, top):
        x = bottom[0].tdata
        if self.phase == TRAIN:
            self.mask = torch.empty_like(x).bernoulli_(1 - self.ratio)
            top[0].tdata = x * self.mask * self.scale
        elif top[0] is not bottom[0]:
            top[0].tdata = x.clone()

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        g = top[0].tdiff
        if self.phase == TRAIN:
            bottom[0].tdiff = g * self.mask * self.scale
        elif top[0] is not bottom[0]:
            bottom[0].tdiff = g.clone()


@register('Sigmoid')
class Sigmoid(Neuron):
    def forward(self, bottom, top):
        top[0].tdata = torch.sigmoid(bottom[0].tdata)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            y = top[0].tdata
            bottom[0].tdiff = top[0].tdiff * y * (1 - y)


@register('TanH')
class TanH(Neuron):
    def forward(self, bottom, top):
        top[0].tdata = torch.tanh(bottom[0].tdata)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            y = top[0].tdata
            bottom[0].tdiff = top[0].tdiff * (1 - y * y)


@register('Power')
class Power(Neuron):
    """y = (shift + scale * x) ^ power."""

    def layer_setup(self, bottom, top):
        p = self.param.power_param
        self.power, self.scale, self.shift = p.power, p.scale, p.shift
        if top[0] is bottom[0] and self.power * self.scale != 0 and self.power != 1:
            raise self.error('cannot run in place (backward needs the input)')

    def forward(self, bottom, top):
        x = bottom[0].tdata
        if self.scale * self.power == 0 and self.power == 0:
            top[0].tdata = torch.ones_like(x)
            return
        top[0].tdata = torch.pow(x * self.scale + self.shift, self.power)

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        g = top[0].tdiff
        dscale = self.power * self.scale
        if dscale == 0 or self.power == 1:
            bottom[0].tdiff = g * dscale
        else:
            base = bottom[0].tdata * self.scale + self.shift
            bottom[0].tdiff = g * dscale * torch.pow(base, self.power - 1)


def _f32(x):
    """``x`` rounded to float32, as Caffe holds its layer constants."""
    return float(np.float32(x))


@register('AbsVal')
class AbsVal(Neuron):
    def layer_setup(self, bottom, top):
        if top[0] is bottom[0]:
            raise self.error('cannot run in place')

    def forward(self, bottom, top):
        top[0].tdata = torch.abs(bottom[0].tdata)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            bottom[0].tdiff = top[0].tdiff * torch.sign(bottom[0].tdata)


@register('BNLL')
class BNLL(Neuron):
    """y = log(1 + exp(x)), computed without overflow."""
    THRESHOLD = 50.0  # Caffe clamps the input of the gradient's exp here

    def forward(self, bottom, top):
        x = bottom[0].tdata
        top[0].tdata = torch.clamp(x, min=0) + torch.log1p(torch.exp(-torch.abs(x)))

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            # In place, Caffe reads the output here as if it were the input: so do we.
            e = torch.exp(torch.clamp(bottom[0].tdata, max=self.THRESHOLD))
            bottom[0].tdiff = top[0].tdiff * e / (e + 1)


@register('Clip')
class Clip(Neuron):
    """y = max(min, min(x, max)); the gradient passes where min <= x <= max."""

    def layer_setup(self, bottom, top):
        p = self.param.clip_param
        self.lo, self.hi = p.min, p.max

    def forward(self, bottom, top):
        top[0].tdata = torch.clamp(bottom[0].tdata, max=self.hi).clamp(min=self.lo)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            x = bottom[0].tdata
            bottom[0].tdiff = top[0].tdiff * ((x >= self.lo) & (x <= self.hi))


@register('ELU')
class ELU(Neuron):
    """y = x for x > 0, alpha (exp(x) - 1) otherwise."""

    def forward(self, bottom, top):
        x = bottom[0].tdata
        alpha = self.param.elu_param.alpha
        top[0].tdata = torch.clamp(x, min=0) + alpha * (torch.exp(torch.clamp(x, max=0)) - 1)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            x, y = bottom[0].tdata, top[0].tdata
            alpha = self.param.elu_param.alpha
            bottom[0].tdiff = top[0].tdiff * torch.where(x > 0, torch.ones_like(x), alpha + y)


def _log_base(layer, base):
    """Natural log of ``base`` (-1 means e), checked as Caffe checks it."""
    if base == -1:
        return 1.0
    if not base > 0:
        raise layer.error('base must be strictly positive (or -1 for e), got %g' % base)
    log_base = _f32(np.log(np.float32(base)))
    if not np.isfinite(log_base):
        raise layer.error('log(base) is not finite for base %g' % base)
    return log_base


@register('Exp')
class Exp(Neuron):
    """y = base ^ (shift + scale x)."""

    def layer_setup(self, bottom, top):
        p = self.param.exp_param
        self.inner = _f32(_log_base(self, p.base) * np.float32(p.scale))
        if p.shift == 0:
            self.outer = 1.0
        elif p.base == -1:
            self.outer = _f32(np.exp(np.float32(p.shift)))
        else:
            self.outer = _f32(np.power(np.float32(p.base), np.float32(p.shift)))

    def forward(self, bottom, top):
        x = bottom[0].tdata
        y = torch.exp(x if self.inner == 1 else x * self.inner)
        top[0].tdata = y if self.outer == 1 else y * self.outer

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            g = top[0].tdiff * top[0].tdata
            bottom[0].tdiff = g if self.inner == 1 else g * self.inner


@register('Log')
class Log(Neuron):
    """y = log_base(shift + scale x)."""

    def layer_setup(self, bottom, top):
        p = self.param.log_param
        log_base = _log_base(self, p.base)
        self.base_scale = _f32(np.float32(1) / np.float32(log_base))
        if not np.isfinite(self.base_scale):
            raise self.error('1 / log(base) is not finite for base %g' % p.base)
        self.scale, self.shift = p.scale, p.shift
        self.grad_scale = _f32(np.float32(p.scale) / np.float32(log_base))

    def _affine(self, x):
        if self.scale != 1:
            x = x * self.scale
        return x + self.shift if self.shift != 0 else x

    def forward(self, bottom, top):
        y = torch.log(self._affine(bottom[0].tdata))
        top[0].tdata = y if self.base_scale == 1 else y * self.base_scale

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            # In place, Caffe reads the output here as if it were the input: so do we.
            inv = torch.reciprocal(self._affine(bottom[0].tdata))
            if self.grad_scale != 1:
                inv = inv * self.grad_scale
            # In place, Caffe builds the factor in the diff buffer that holds the top
            # diff, then multiplies the two: the factor squared.
            bottom[0].tdiff = inv * inv if top[0] is bottom[0] else top[0].tdiff * inv


@register('Swish')
class Swish(Neuron):
    """y = x sigmoid(beta x)."""

    def forward(self, bottom, top):
        x = bottom[0].tdata
        self.sig = torch.sigmoid(x * self.param.swish_param.beta)
        top[0].tdata = x * self.sig

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            beta = self.param.swish_param.beta
            by = beta * top[0].tdata
            bottom[0].tdiff = top[0].tdiff * (by + self.sig * (1 - by))


@register('Threshold')
class Threshold(Neuron):
    """y = 1 where x > threshold, else 0. Caffe has no backward for it."""

    def forward(self, bottom, top):
        top[0].tdata = (bottom[0].tdata > self.param.threshold_param.threshold).to(torch.float32)


@register('PReLU')
class PReLU(Neuron):
    """y = x for x > 0, a x otherwise, with a learned slope a per channel or shared."""

    def layer_setup(self, bottom, top):
        shape = bottom[0].shape
        if len(shape) < 2:
            raise self.error('needs a bottom with at least 2 axes, got %s' % (shape,))
        p = self.param.prelu_param
        self.shared = p.channel_shared
        want = 1 if self.shared else shape[1]
        if not self.blobs:
            filler = p.filler if p.HasField('filler') else \
                caffe_pb2.FillerParameter(type='constant', value=0.25)
            self.add_param(() if self.shared else (shape[1],), filler)
        elif self.blobs[0].count != want:
            raise self.error('slope blob has %d values, channel_shared=%s needs %d'
                             % (self.blobs[0].count, self.shared, want))

    def reshape(self, bottom, top):
        if len(bottom[0].shape) < 2:
            raise self.error('needs a bottom with at least 2 axes, got %s' % (bottom[0].shape,))
        super().reshape(bottom, top)

    def _slope(self, x):
        """The slope broadcastable against ``x`` viewed as (N, C, rest)."""
        a = self.blobs[0].tdata
        return a.reshape(1, 1, 1) if self.shared else a.reshape(1, -1, 1)

    def forward(self, bottom, top):
        x = bottom[0].tdata
        self.input = x.clone() if top[0] is bottom[0] else None  # in place: keep the input
        v = x.reshape(x.shape[0], x.shape[1], -1)
        y = torch.clamp(v, min=0) + self._slope(x) * torch.clamp(v, max=0)
        top[0].tdata = y.reshape(x.shape)

    def backward(self, top, propagate_down, bottom):
        x = self.input if self.input is not None else bottom[0].tdata
        shape = x.shape
        v = x.reshape(shape[0], shape[1], -1)
        g = top[0].tdiff.reshape(v.shape)
        neg = v <= 0
        if self.param_propagate_down[0]:  # first: in place, the bottom diff is the top diff
            d = (g * v * neg).sum((0, 2))
            self.blobs[0].tdiff.add_((d.sum() if self.shared else d).reshape(self.blobs[0].shape))
        if propagate_down[0]:
            bottom[0].tdiff = (g * torch.where(neg, self._slope(x), torch.ones_like(v))).reshape(shape)
