"""Loss layers: SoftmaxWithLoss."""
import numpy as np
import torch

from ...proto import caffe_pb2
from ..layer import Layer, register, axis_index, count

FLT_MIN = float(np.finfo(np.float32).tiny)
Norm = caffe_pb2.LossParameter


class LossLayer(Layer):
    """Caffe's LossLayer: two bottoms, a scalar loss top with loss weight 1 by default."""
    exact_bottoms = 2
    min_tops = 1
    max_tops = 1

    def layer_setup(self, bottom, top):
        if not len(self.param.loss_weight):
            self.param.loss_weight.append(1.0)

    def allow_force_backward(self, bottom_index):
        return bottom_index != 1  # never a gradient for labels

    def normalization(self):
        lp = self.param.loss_param
        if lp.HasField('normalize'):
            return Norm.VALID if lp.normalize else Norm.BATCH_SIZE
        return lp.normalization

    def normalizer(self, mode, outer, inner, valid=None):
        """Caffe's get_normalizer: the loss divisor, at least 1. ``valid`` is the device
        tensor of the labels that count (None without ignore_label); the VALID count
        stays on the device, so no host sync."""
        if mode == Norm.VALID and valid is not None:
            return valid.sum().clamp(min=1).float()
        if mode in (Norm.FULL, Norm.VALID):
            n = outer * inner
        elif mode == Norm.BATCH_SIZE:
            n = outer
        else:
            n = 1
        return max(1.0, float(n))

    def reshape(self, bottom, top):
        top[0].reshape(())


@register('SoftmaxWithLoss')
class SoftmaxWithLoss(LossLayer):
    max_tops = 2

    def layer_setup(self, bottom, top):
        super().layer_setup(bottom, top)
        lp = self.param.loss_param
        self.ignore = lp.ignore_label if lp.HasField('ignore_label') else None
        self.mode = self.normalization()

    def reshape(self, bottom, top):
        super().reshape(bottom, top)
        shape = bottom[0].shape
        self.axis = axis_index(self.param.softmax_param.axis, len(shape))
        self.outer = count(shape, 0, self.axis)
        self.inner = count(shape, self.axis + 1)
        if self.outer * self.inner != bottom[1].count:
            raise self.error('label count %d does not match prediction %s: need %d labels '
                             '(outer x inner)' % (bottom[1].count, shape, self.outer * self.inner))
        if len(top) > 1:
            top[1].reshape(shape)

    def _prepare(self, bottom):
        shape = bottom[0].shape
        x = bottom[0].tdata.reshape(self.outer, shape[self.axis], self.inner)
        prob = torch.softmax(x, 1)
        label = bottom[1].tdata.reshape(self.outer, self.inner)
        lab = label.long()
        valid = torch.ones_like(lab, dtype=torch.bool) if self.ignore is None else lab != self.ignore
        return prob, lab, valid

    def forward(self, bottom, top):
        prob, lab, valid = self._prepare(bottom)
        self.check_labels(bottom[1], prob.shape[1], self.ignore)
        safe = torch.where(valid, lab, torch.zeros_like(lab))
        p = prob.gather(1, safe.unsqueeze(1)).squeeze(1)
        logp = torch.log(torch.clamp(p, min=FLT_MIN))
        loss = -(logp * valid).sum(dtype=torch.float64)
        self.norm = self.normalizer(self.mode, self.outer, self.inner,
                                    valid if self.ignore is not None else None)
        top[0].tdata = (loss / self.norm).float().reshape(())
        self._saved = (prob, safe, valid)
        if len(top) > 1:
            top[1].tdata = prob.reshape(bottom[0].shape)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[1]:
            raise self.error('cannot backpropagate to the label input')
        if not propagate_down[0]:
            return
        prob, safe, valid = self._saved
        grad = prob.clone()
        grad.scatter_add_(1, safe.unsqueeze(1), -torch.ones_like(safe, dtype=grad.dtype).unsqueeze(1))
        grad *= valid.unsqueeze(1)
        scale = top[0].tdiff.reshape(()) / self.norm
        bottom[0].tdiff = (grad * scale).reshape(bottom[0].shape)


@register('SigmoidCrossEntropyLoss')
class SigmoidCrossEntropyLoss(LossLayer):
    """Cross-entropy of sigmoid(x) against targets in [0, 1], with optional ignore_label."""

    def layer_setup(self, bottom, top):
        super().layer_setup(bottom, top)
        lp = self.param.loss_param
        self.ignore = lp.ignore_label if lp.HasField('ignore_label') else None
        # Unlike SoftmaxWithLoss, Caffe defaults this loss to BATCH_SIZE.
        self.mode = self.normalization() if (lp.HasField('normalization') or lp.HasField('normalize')) \
            else Norm.BATCH_SIZE

    def reshape(self, bottom, top):
        super().reshape(bottom, top)
        if bottom[0].count != bottom[1].count:
            raise self.error('prediction %s and target %s differ in count' % (bottom[0].shape, bottom[1].shape))

    def forward(self, bottom, top):
        x, t = bottom[0].tdata, bottom[1].tdata
        valid = torch.ones_like(t, dtype=torch.bool) if self.ignore is None else t != self.ignore
        pos = (x >= 0).to(x.dtype)
        # Stable form: -[x (t - [x >= 0]) - log(1 + exp(x - 2 x [x >= 0]))]
        terms = x * (t - pos) - torch.log1p(torch.exp(x - 2 * x * pos))
        loss = -(terms * valid).sum(dtype=torch.float64)
        n = x.shape[0]
        self.norm = self.normalizer(self.mode, n, bottom[0].count // max(n, 1),
                                    valid if self.ignore is not None else None)
        top[0].tdata = (loss / self.norm).float().reshape(())
        self.valid = valid

    def backward(self, top, propagate_down, bottom):
        if propagate_down[1]:
            raise self.error('cannot backpropagate to the target input')
        if propagate_down[0]:
            x, t = bottom[0].tdata, bottom[1].tdata
            grad = (torch.sigmoid(x) - t) * self.valid
            bottom[0].tdiff = grad * (top[0].tdiff.reshape(()) / self.norm)


@register('EuclideanLoss')
class EuclideanLoss(LossLayer):
    """sum((a - b)^2) / (2 N); both inputs receive gradients."""

    def allow_force_backward(self, bottom_index):
        return True

    def reshape(self, bottom, top):
        super().reshape(bottom, top)
        if bottom[0].count != bottom[1].count:
            raise self.error('inputs %s and %s differ in count' % (bottom[0].shape, bottom[1].shape))

    def forward(self, bottom, top):
        self.delta = bottom[0].tdata - bottom[1].tdata.reshape(bottom[0].shape)
        n = bottom[0].shape[0]
        top[0].tdata = ((self.delta * self.delta).sum() / n / 2).reshape(())

    def backward(self, top, propagate_down, bottom):
        n = bottom[0].shape[0]
        for i, (b, down) in enumerate(zip(bottom, propagate_down)):
            if down:
                sign = 1.0 if i == 0 else -1.0
                b.tdiff = (self.delta * (sign * top[0].tdiff.reshape(()) / n)).reshape(b.shape)
