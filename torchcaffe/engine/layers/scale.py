"""Scale and Bias: multiply or add a per-position factor broadcast over a block
of axes. The factor is a learned parameter (one bottom) or the second bottom."""
import torch

from ..layer import Layer, register, axis_index, count
from ...proto import caffe_pb2


def _block(shape, axis, num_axes):
    """(outer, dim, inner) sizes for a factor over ``num_axes`` axes from ``axis``."""
    end = len(shape) if num_axes == -1 else axis + num_axes
    if num_axes < -1 or end > len(shape):
        raise ValueError('num_axes %d from axis %d exceeds a %d-axis blob' % (num_axes, axis, len(shape)))
    return count(shape, 0, axis), count(shape, axis, end), count(shape, end), list(shape[axis:end])


class _Broadcast(Layer):
    """Shared machinery: factor blob placement and the (outer, dim, inner) view."""
    min_bottoms = 1
    max_bottoms = 2
    exact_tops = 1

    def factor_axes(self, bottom, param):
        """Axis and axis count of the factor, from the param or the second bottom."""
        axis = axis_index(param.axis, len(bottom[0].shape))
        if len(bottom) > 1:
            nax = len(bottom[1].shape)
            # Caffe: a scalar second bottom applies to everything from `axis` (axis may equal num_axes)
            return axis, nax
        return axis, param.num_axes

    def view(self, bottom, axis, nax):
        try:
            outer, dim, inner, fshape = _block(bottom[0].shape, axis, nax)
        except ValueError as e:
            raise self.error(str(e)) from None
        if len(bottom) > 1 and list(bottom[1].shape) != fshape:
            raise self.error('second bottom has shape %s, expected %s (bottom 0 %s from axis %d)'
                             % (bottom[1].shape, fshape, bottom[0].shape, axis))
        return outer, dim, inner

    @staticmethod
    def reduce(t, outer, dim, inner):
        """Sum of t over outer and inner positions: the factor's gradient."""
        return t.reshape(outer, dim, inner).sum((0, 2))


@register('Bias')
class Bias(_Broadcast):
    def layer_setup(self, bottom, top):
        p = self.param.bias_param
        self.axis, self.nax = self.factor_axes(bottom, p)
        if len(bottom) == 1 and not self.blobs:
            _, _, _, fshape = _block(bottom[0].shape, self.axis, self.nax)
            self.add_param(fshape, p.filler if p.HasField('filler') else None)

    def reshape(self, bottom, top):
        self.dims = self.view(bottom, self.axis, self.nax)
        top[0].reshape(bottom[0].shape)

    def forward(self, bottom, top):
        b = (bottom[1] if len(bottom) > 1 else self.blobs[0]).tdata
        outer, dim, inner = self.dims
        x = bottom[0].tdata.reshape(outer, dim, inner)
        top[0].tdata = (x + b.reshape(1, dim, 1)).reshape(bottom[0].shape)

    def backward(self, top, propagate_down, bottom):
        g = top[0].tdiff
        if propagate_down[0] and top[0] is not bottom[0]:
            bottom[0].tdiff = g.clone()
        if len(bottom) > 1:
            if propagate_down[1]:
                bottom[1].tdiff = self.reduce(g, *self.dims).reshape(bottom[1].shape)
        elif self.param_propagate_down[0]:
            self.blobs[0].tdiff.add_(self.reduce(g, *self.dims).reshape(self.blobs[0].shape))


@register('Scale')
class Scale(_Broadcast):
    def layer_setup(self, bottom, top):
        p = self.param.scale_param
        self.axis, self.nax = self.factor_axes(bottom, p)
        given = len(self.blobs)
        _, _, _, fshape = _block(bottom[0].shape, self.axis, self.nax)
        if len(bottom) == 1 and not given:
            filler = p.filler if p.HasField('filler') else caffe_pb2.FillerParameter(type='constant', value=1)
            self.add_param(fshape, filler)
        self.bias = None
        if p.bias_term:
            self.bias_index = 1 if len(bottom) == 1 else 0
            if len(self.blobs) <= self.bias_index:
                self.add_param(fshape, p.bias_filler if p.HasField('bias_filler') else None)

    def reshape(self, bottom, top):
        self.dims = self.view(bottom, self.axis, self.nax)
        top[0].reshape(bottom[0].shape)

    def _factor(self, bottom):
        return bottom[1] if len(bottom) > 1 else self.blobs[0]

    def forward(self, bottom, top):
        outer, dim, inner = self.dims
        x = bottom[0].tdata
        if top[0] is bottom[0]:
            self.saved = x.clone()  # backward needs the input that in-place overwrites
        s = self._factor(bottom).tdata.reshape(1, dim, 1)
        y = x.reshape(outer, dim, inner) * s
        if self.param.scale_param.bias_term:
            y = y + self.blobs[self.bias_index].tdata.reshape(1, dim, 1)
        top[0].tdata = y.reshape(bottom[0].shape)

    def backward(self, top, propagate_down, bottom):
        outer, dim, inner = self.dims
        g = top[0].tdiff
        p = self.param.scale_param
        if p.bias_term and self.param_propagate_down[self.bias_index]:
            bias = self.blobs[self.bias_index]
            bias.tdiff.add_(self.reduce(g, *self.dims).reshape(bias.shape))
        x = self.saved if top[0] is bottom[0] else bottom[0].tdata
        factor = self._factor(bottom)
        if len(bottom) > 1:
            if propagate_down[1]:
                factor.tdiff = self.reduce(g * x, *self.dims).reshape(factor.shape)
        elif self.param_propagate_down[0]:
            factor.tdiff.add_(self.reduce(g * x, *self.dims).reshape(factor.shape))
        if propagate_down[0]:
            s = factor.tdata.reshape(1, dim, 1)
            bottom[0].tdiff = (g.reshape(outer, dim, inner) * s).reshape(bottom[0].shape)
