"""MVN: subtract the mean (and divide by the standard deviation) of each channel of
each item, or of each item across channels."""
import numpy as np
import torch

from ..layer import Layer, register


@register('MVN')
class MVN(Layer):
    exact_bottoms = 1
    exact_tops = 1

    def reshape(self, bottom, top):
        shape = bottom[0].shape
        if len(shape) > 4:
            raise self.error('takes at most 4 axes (num, channels, height, width), got %s' % (shape,))
        legacy = tuple(shape) + (1,) * (4 - len(shape))  # Caffe gives the top 4 axes
        p = self.param.mvn_param
        self.rows = legacy[0] if p.across_channels else legacy[0] * legacy[1]
        top[0].reshape(legacy)

    def forward(self, bottom, top):
        p = self.param.mvn_param
        x = bottom[0].tdata.reshape(self.rows, -1)
        y = x - x.mean(1, keepdim=True)
        if p.normalize_variance:
            # Caffe adds eps to the standard deviation, not to the variance
            self.std = torch.sqrt((y * y).mean(1, keepdim=True)) + p.eps
            y = y / self.std
        top[0].tdata = y.reshape(top[0].shape)

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        g = top[0].tdiff.reshape(self.rows, -1)
        if self.param.mvn_param.normalize_variance:
            y = top[0].tdata.reshape(self.rows, -1)
            dim = g.shape[1]
            yg = (y * g).sum(1, keepdim=True)
            if top[0] is bottom[0]:
                grad = self._inplace_grad(y, yg, dim)
            else:
                grad = (g - (y * yg + g.sum(1, keepdim=True)) / dim) / self.std
        else:
            grad = g - g.mean(1, keepdim=True)
        bottom[0].tdiff = grad.reshape(bottom[0].shape)

    def _inplace_grad(self, y, yg, dim):
        """Caffe's in-place gradient. Its steps write into the diff buffer that also
        holds the top diff, so later steps read their own partial results; the last,
        ``d = d - d / dim`` as a scale then an add (Caffe's axpby without MKL), doubles
        them: -2/dim sum(y dy) (y + sum(y)) / std."""
        partial = y * yg + yg * y.sum(1, keepdim=True)
        return partial * (2 * float(np.float32(-1.0 / dim))) / self.std
