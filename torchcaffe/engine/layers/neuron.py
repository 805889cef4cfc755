"""Elementwise ("neuron") layers."""
import numpy as np
import torch

from ...proto import caffe_pb2
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
        x = bottom[0].tdata
        slope = self.param.relu_param.negative_slope
        top[0].tdata = torch.relu(x) if slope == 0 else torch.where(x > 0, x, x * slope)

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
