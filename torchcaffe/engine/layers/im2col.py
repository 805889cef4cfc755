"""Im2col: each output position's receptive field laid out along the channel axis,
as Convolution sees it: channel-major, then kernel offsets (kernel, stride, pad and
dilation read like Convolution's)."""
import math

import torch
import torch.nn.functional as F

from ..layer import Layer, register, count
from .conv import geometry


def _out_size(size, kernel, stride, pad, dilation):
    """Caffe's output length along one axis (C integer division)."""
    span = size + 2 * pad - (dilation * (kernel - 1) + 1)
    return int(span / stride) + 1


@register('Im2col')
class Im2col(Layer):
    exact_bottoms = 1
    exact_tops = 1

    def layer_setup(self, bottom, top):
        p = self.param.convolution_param
        shape = bottom[0].shape
        self.axis = self.canonical_axis(p.axis, len(shape))
        n = len(shape) - self.axis - 1
        if n < 1:
            raise self.error('needs at least one spatial axis after the channel axis %d' % self.axis)
        self.kernel, self.stride, self.pad, self.dilation = geometry(self, p, n)

    def reshape(self, bottom, top):
        shape = list(bottom[0].shape)
        a = self.axis
        self.out = [_out_size(shape[a + 1 + i], k, s, p, d) for i, (k, s, p, d) in
                    enumerate(zip(self.kernel, self.stride, self.pad, self.dilation))]
        if any(o <= 0 for o in self.out):
            raise self.error('kernel larger than the padded input %s' % (bottom[0].shape,))
        top[0].reshape(tuple(shape[:a]) + (shape[a] * math.prod(self.kernel),) + tuple(self.out))

    def _columns(self, x):
        """(num, C, *spatial) -> (num, C * prod(kernel), *out)."""
        a = self.axis
        x = x.reshape((count(x.shape, 0, a),) + tuple(x.shape[a:]))
        n = len(self.kernel)
        pads = [q for p in reversed(self.pad) for q in (p, p)]
        x = F.pad(x, pads) if any(self.pad) else x
        for i, (k, s, d, o) in enumerate(zip(self.kernel, self.stride, self.dilation, self.out)):
            # windows along spatial axis i become a trailing axis; dilation picks every d-th
            x = x.unfold(2 + i, d * (k - 1) + 1, s).narrow(2 + i, 0, o)[..., ::d]
        # (num, C, *out, *kernel) -> (num, C, *kernel, *out)
        order = [0, 1] + list(range(2 + n, 2 + 2 * n)) + list(range(2, 2 + n))
        x = x.permute(order)
        return x.reshape((x.shape[0], -1) + tuple(self.out))

    def forward(self, bottom, top):
        top[0].tdata = self._columns(bottom[0].tdata).reshape(top[0].shape)

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        # col2im is the adjoint of the (linear) im2col: its vector-Jacobian product.
        with torch.enable_grad():
            x = torch.zeros_like(bottom[0].tdata, requires_grad=True)
            cols = self._columns(x).reshape(top[0].shape)
            grad, = torch.autograd.grad(cols, x, top[0].tdiff)
        bottom[0].tdiff = grad
