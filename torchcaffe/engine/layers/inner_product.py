"""InnerProduct: y = x W^T + b over the axes from ``axis`` on, flattened."""
import torch

from .. import device
from ..layer import Layer, register, axis_index, count


@register('InnerProduct')
class InnerProduct(Layer):
    exact_bottoms = 1
    exact_tops = 1

    def layer_setup(self, bottom, top):
        p = self.param.inner_product_param
        if p.num_output <= 0:
            raise self.error('num_output must be positive')
        self.n = p.num_output
        self.axis = axis_index(p.axis, len(bottom[0].shape))
        self.k = count(bottom[0].shape, self.axis)
        self.transpose = p.transpose
        wshape = [self.k, self.n] if self.transpose else [self.n, self.k]
        shapes = [wshape] + ([[self.n]] if p.bias_term else [])
        if self.blobs:
            self.check_param_shapes(*shapes)
        else:
            self.add_param(wshape, p.weight_filler if p.HasField('weight_filler') else None)
            if p.bias_term:
                self.add_param([self.n], p.bias_filler if p.HasField('bias_filler') else None)
        self.bias_term = p.bias_term

    def reshape(self, bottom, top):
        shape = bottom[0].shape
        k = count(shape, self.axis)
        if k != self.k:
            raise self.error('input %s flattens to %d features, the weights take %d' % (shape, k, self.k))
        top[0].reshape(tuple(shape[:self.axis]) + (self.n,))

    def _weight(self):
        w = self.blobs[0].tdata
        return w.t() if self.transpose else w  # (n, k)

    def forward(self, bottom, top):
        dtype = device.compute_dtype()
        x = bottom[0].tdata.reshape(-1, self.k)
        y = (x.to(dtype) @ self._weight().to(dtype).t()).float()
        if self.bias_term:
            y += self.blobs[1].tdata
        top[0].tdata = y.reshape(top[0].shape)

    def backward(self, top, propagate_down, bottom):
        g = top[0].tdiff.reshape(-1, self.n)
        x = bottom[0].tdata.reshape(-1, self.k)
        if self.param_propagate_down[0]:
            gw = g.t() @ x
            self.blobs[0].add_diff(gw.t() if self.transpose else gw)
        if self.bias_term and self.param_propagate_down[1]:
            self.blobs[1].add_diff(g.sum(0))
        if propagate_down[0]:
            bottom[0].tdiff = (g @ self._weight()).reshape(bottom[0].shape)
