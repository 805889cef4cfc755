"""LRN: local response normalization across channels or within a channel.

ACROSS_CHANNELS: y = x (k + alpha/n sum_window x^2)^-beta, the window of n
channels zero-padded at the ends. WITHIN_CHANNEL: y = x (1 + alpha avg)^-beta
with avg a zero-padded n x n average of x^2 (Caffe ignores k there).
"""
import torch
import torch.nn.functional as F

from ...proto import caffe_pb2
from ..layer import Layer, register

ACROSS = caffe_pb2.LRNParameter.ACROSS_CHANNELS


def _window_sum(x, n, across):
    """Sum of x over the n-neighbourhood (channels, or n x n pixels), zero padded."""
    pad = (n - 1) // 2
    # padded here, not by the pooling: a window wider than the blob is legal in Caffe
    if across:
        x = F.pad(x.unsqueeze(1), (0, 0, 0, 0, pad, pad))
        return F.avg_pool3d(x, (n, 1, 1), 1, 0, False, True, 1).squeeze(1)
    return F.avg_pool2d(F.pad(x, (pad, pad, pad, pad)), n, 1, 0, False, True, 1)


@register('LRN')
class LRN(Layer):
    exact_bottoms = 1
    exact_tops = 1

    def layer_setup(self, bottom, top):
        p = self.param.lrn_param
        if p.local_size % 2 == 0:
            raise self.error('local_size must be odd, got %d' % p.local_size)
        if top[0] is bottom[0]:
            raise self.error('cannot run in place')
        self.n, self.alpha, self.beta, self.k = p.local_size, p.alpha, p.beta, p.k
        self.across = p.norm_region == ACROSS

    def reshape(self, bottom, top):
        if len(bottom[0].shape) != 4:
            raise self.error('needs a 4-d bottom, got %s' % (bottom[0].shape,))
        top[0].reshape(bottom[0].shape)

    def _scale(self, x):
        s = _window_sum(x * x, self.n, self.across)
        if self.across:
            return self.k + (self.alpha / self.n) * s
        return 1 + (self.alpha / (self.n * self.n)) * s

    def forward(self, bottom, top):
        x = bottom[0].tdata
        self.scale = self._scale(x)
        top[0].tdata = x * torch.pow(self.scale, -self.beta)

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        x, y, g = bottom[0].tdata, top[0].tdata, top[0].tdiff
        # d/dx_i: g_i s_i^-beta - 2 beta (alpha / window) x_i sum_{j: i in window j} g_j y_j / s_j
        ratio = _window_sum(g * y / self.scale, self.n, self.across)
        coeff = 2 * self.beta * self.alpha / (self.n if self.across else self.n * self.n)
        bottom[0].tdiff = g * torch.pow(self.scale, -self.beta) - coeff * x * ratio
