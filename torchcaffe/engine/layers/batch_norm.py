"""BatchNorm: normalize each channel by the batch's statistics (TRAIN), keeping running
averages, or by the stored averages (use_global_stats, TEST's default).

Its three blobs are not learned: running sums of the mean and of the variance, and
the sum of the averaging weights they are divided by."""
import numpy as np
import torch

from ...proto import caffe_pb2
from ..layer import Layer, register, count


@register('BatchNorm')
class BatchNorm(Layer):
    exact_bottoms = 1
    exact_tops = 1

    def layer_setup(self, bottom, top):
        p = self.param.batch_norm_param
        self.fraction, self.eps = p.moving_average_fraction, p.eps
        self.global_stats = p.use_global_stats if p.HasField('use_global_stats') \
            else self.phase == caffe_pb2.TEST
        self.check_axes(bottom)
        c = bottom[0].shape[1]
        if not self.blobs:
            for shape in ((c,), (c,), (1,)):
                self.add_param(shape)
        # The statistics must never move with the solver: lr_mult 0, as Caffe forces it.
        for i in range(len(self.blobs)):
            if i == len(self.param.param):
                self.param.param.add(lr_mult=0)
            elif self.param.param[i].lr_mult != 0:
                raise self.error('param %d has lr_mult %g: the statistics cannot be learned '
                                 '(lr_mult must be 0)' % (i, self.param.param[i].lr_mult))

    def check_axes(self, bottom):
        if len(bottom[0].shape) < 2:
            raise self.error('needs a bottom with at least 2 axes (num, channels, ...), got %s'
                             % (bottom[0].shape,))

    def reshape(self, bottom, top):
        self.check_axes(bottom)
        if bottom[0].shape[1] != self.blobs[0].count:
            raise self.error('bottom has %d channels, the statistics %d'
                             % (bottom[0].shape[1], self.blobs[0].count))
        top[0].reshape(bottom[0].shape)

    def _view(self, t):
        return t.reshape(t.shape[0], t.shape[1], -1)

    def forward(self, bottom, top):
        x = self._view(bottom[0].tdata)
        if self.global_stats:
            total = self.blobs[2].tdata.reshape(())
            factor = torch.where(total == 0, torch.zeros_like(total), 1 / total)
            mean = self.blobs[0].tdata * factor
            var = self.blobs[1].tdata * factor
            centered = x - mean.reshape(1, -1, 1)
        else:
            mean = x.mean((0, 2))
            centered = x - mean.reshape(1, -1, 1)
            var = (centered * centered).mean((0, 2))
            self.update_averages(mean, var, count(bottom[0].shape) // x.shape[1])
        self.std = torch.sqrt(var + self.eps).reshape(1, -1, 1)
        self.normed = centered / self.std
        top[0].tdata = self.normed.reshape(bottom[0].shape)

    def update_averages(self, mean, var, m):
        """Running sums: s <- fraction s + 1, mean and (unbiased) variance likewise."""
        f = self.fraction
        correction = float(np.float32(m) / np.float32(m - 1)) if m > 1 else 1.0
        b = self.blobs
        b[2].tdata = b[2].tdata * f + 1
        b[0].tdata = mean + b[0].tdata * f
        b[1].tdata = var * correction + b[1].tdata * f

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        g = self._view(top[0].tdiff)
        if self.global_stats:
            grad = g / self.std
        else:
            y = self.normed
            grad = (g - g.mean((0, 2), keepdim=True) - (g * y).mean((0, 2), keepdim=True) * y) / self.std
        bottom[0].tdiff = grad.reshape(bottom[0].shape)
