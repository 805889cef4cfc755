"""Reduction: SUM, ASUM, SUMSQ or MEAN over all axes from ``axis`` on, times coeff."""
import numpy as np
import torch

from ...proto import caffe_pb2
from ..layer import Layer, register, count

R = caffe_pb2.ReductionParameter


@register('Reduction')
class Reduction(Layer):
    exact_bottoms = 1
    exact_tops = 1

    def layer_setup(self, bottom, top):
        self.op = self.param.reduction_param.operation
        if self.op not in (R.SUM, R.ASUM, R.SUMSQ, R.MEAN):
            raise self.error('unknown reduction operation %d' % self.op)

    def reshape(self, bottom, top):
        p = self.param.reduction_param
        shape = bottom[0].shape
        self.axis = self.canonical_axis(p.axis, len(shape))
        self.num, self.dim = count(shape, 0, self.axis), count(shape, self.axis)
        coeff = np.float32(p.coeff)
        if self.op == R.MEAN:
            coeff = coeff / np.float32(self.dim)  # Caffe divides in float
        self.coeff = float(coeff)
        top[0].reshape(tuple(shape[:self.axis]))

    def forward(self, bottom, top):
        x = bottom[0].tdata.reshape(self.num, self.dim)
        if self.op == R.ASUM:
            x = torch.abs(x)
        elif self.op == R.SUMSQ:
            x = x * x
        y = x.sum(1)
        if self.coeff != 1:
            y = y * self.coeff
        top[0].tdata = y.reshape(top[0].shape)

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        g = top[0].tdiff.reshape(self.num, 1) * self.coeff
        if self.op in (R.SUM, R.MEAN):
            grad = g.expand(self.num, self.dim)
        else:
            x = bottom[0].tdata.reshape(self.num, self.dim)
            grad = torch.sign(x) * g if self.op == R.ASUM else x * (2 * g)
        bottom[0].tdiff = grad.reshape(bottom[0].shape).contiguous()
