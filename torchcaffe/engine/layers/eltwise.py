"""Eltwise: SUM (with coefficients), PROD and MAX of equally shaped bottoms."""
import torch

from ...proto import caffe_pb2
from ..layer import Layer, register

E = caffe_pb2.EltwiseParameter


@register('Eltwise')
class Eltwise(Layer):
    min_bottoms = 2
    low_precision = True
    exact_tops = 1

    def layer_setup(self, bottom, top):
        p = self.param.eltwise_param
        self.op = p.operation
        if len(p.coeff) and (self.op != E.SUM or len(p.coeff) != len(bottom)):
            raise self.error('coeff is for SUM only, one per bottom (%d given, %d bottoms)'
                             % (len(p.coeff), len(bottom)))
        self.coeff = list(p.coeff) or [1.0] * len(bottom)
        self.stable = p.stable_prod_grad

    def reshape(self, bottom, top):
        for i, b in enumerate(bottom[1:], 1):
            if b.shape != bottom[0].shape:
                raise self.error('bottom %d has shape %s, bottom 0 has %s: Eltwise needs equal shapes '
                                 '(crop the larger one with a Crop layer)' % (i, b.shape, bottom[0].shape))
        top[0].reshape(bottom[0].shape)

    def forward(self, bottom, top):
        xs = [b.tdata for b in bottom]
        if self.op == E.SUM:
            y = xs[0] * self.coeff[0] if self.coeff[0] != 1 else xs[0].clone()
            for c, x in zip(self.coeff[1:], xs[1:]):
                y = y.add_(x, alpha=c)
        elif self.op == E.PROD:
            y = xs[0] * xs[1]
            for x in xs[2:]:
                y = y.mul_(x)
        else:
            # Caffe: bottom 1 wins ties with bottom 0; later bottoms must be strictly greater.
            first = xs[0] > xs[1]
            y = torch.where(first, xs[0], xs[1])
            mask = torch.where(first, 0, 1).to(torch.uint8)
            for i, x in enumerate(xs[2:], 2):
                greater = x > y
                y = torch.where(greater, x, y)
                mask = torch.where(greater, i, mask).to(torch.uint8)
            self.mask = mask
        top[0].tdata = y

    def backward(self, top, propagate_down, bottom):
        g = top[0].tdiff
        for i, (b, down) in enumerate(zip(bottom, propagate_down)):
            if not down:
                continue
            if self.op == E.SUM:
                b.tdiff = g * self.coeff[i] if self.coeff[i] != 1 else g.clone()
            elif self.op == E.PROD:
                if self.stable:
                    others = [o.tdata for j, o in enumerate(bottom) if j != i]
                    prod = others[0].clone()
                    for o in others[1:]:
                        prod.mul_(o)
                else:
                    prod = top[0].tdata / b.tdata
                b.tdiff = prod * g
            else:
                b.tdiff = torch.where(self.mask == i, g, torch.zeros_like(g))
