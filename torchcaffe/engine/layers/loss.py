"""Loss layers: SoftmaxWithLoss, SigmoidCrossEntropyLoss, EuclideanLoss, ContrastiveLoss,
HingeLoss, InfogainLoss and MultinomialLogisticLoss."""
import numpy as np
import torch

from ...proto import caffe_pb2
from ..layer import Layer, register, axis_index, count

FLT_MIN = float(np.finfo(np.float32).tiny)
LOG_THRESHOLD = 1e-20  # Caffe's kLOG_THRESHOLD: probabilities are clipped to it before log
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

    def data_diff_wanted(self, propagate_down):
        """Whether bottom 0 wants a diff; an error if the labels (bottom 1) ask for one."""
        if propagate_down[1]:
            raise self.error('cannot backpropagate to the label input')
        return propagate_down[0]

    def split_at_axis(self, bottom, axis):
        """Caffe's outer x classes x inner view of the predictions, one label per outer x
        inner position, for a class ``axis``."""
        shape = bottom[0].shape
        self.axis = axis_index(axis, len(shape))
        self.outer = count(shape, 0, self.axis)
        self.inner = count(shape, self.axis + 1)
        if self.outer * self.inner != bottom[1].count:
            raise self.error('label count %d does not match prediction %s: need %d labels '
                             '(outer x inner)' % (bottom[1].count, shape, self.outer * self.inner))


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
        self.split_at_axis(bottom, self.param.softmax_param.axis)
        if len(top) > 1:
            top[1].reshape(bottom[0].shape)

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
        if not self.data_diff_wanted(propagate_down):
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


def legacy_chw(shape):
    """Caffe's legacy (channels, height, width) of a blob of at most 4 axes."""
    return tuple(shape[1:4]) + (1,) * (4 - max(len(shape), 1))


def check_same_num(layer, bottom):
    """Caffe's LossLayer::Reshape: data and labels agree on the first axis."""
    if bottom[0].shape[:1] != bottom[1].shape[:1]:
        raise layer.error('data %s and label %s differ in their first axis'
                          % (bottom[0].shape, bottom[1].shape))


def per_sample_labels(layer, bottom):
    """The int labels of bottom 1, one per sample of bottom 0 (N x dim), on the device."""
    num = bottom[0].shape[0]
    if bottom[1].count != num:
        raise layer.error('needs one label per sample: %d labels for %d samples' % (bottom[1].count, num))
    layer.check_labels(bottom[1], bottom[0].count // max(num, 1))
    return bottom[1].tdata.reshape(num).long()


@register('ContrastiveLoss')
class ContrastiveLoss(LossLayer):
    """Pairs (a, b) with a similarity label y: y d^2 + (1 - y) max(margin - d, 0)^2
    over 2N (legacy_version: max(margin - d^2, 0)); d is the Euclidean distance."""
    exact_bottoms = 3

    def allow_force_backward(self, bottom_index):
        return bottom_index != 2

    def reshape(self, bottom, top):
        super().reshape(bottom, top)
        a, b, y = (x.shape for x in bottom)
        if legacy_chw(a)[1:] != (1, 1) or legacy_chw(a) != legacy_chw(b) or legacy_chw(y) != (1, 1, 1):
            raise self.error('needs N x C x 1 x 1 pairs and an N x 1 x 1 x 1 similarity, got %s, %s, %s'
                             % (a, b, y))

    def forward(self, bottom, top):
        num = bottom[0].shape[0]
        diff = (bottom[0].tdata - bottom[1].tdata).reshape(num, -1)
        dist_sq = (diff * diff).sum(1)
        similar = bottom[2].tdata.reshape(num).long() != 0  # Caffe casts to int
        p = self.param.contrastive_loss_param
        if p.legacy_version:
            apart = torch.clamp(p.margin - dist_sq, min=0)
        else:
            apart = torch.clamp(p.margin - torch.sqrt(dist_sq), min=0) ** 2
        loss = torch.where(similar, dist_sq, apart).sum(dtype=torch.float64)
        top[0].tdata = (loss / num / 2).float().reshape(())
        self._saved = diff, dist_sq, similar

    def backward(self, top, propagate_down, bottom):
        # Caffe never writes the similarity's diff, nor complains when asked to.
        diff, dist_sq, similar = self._saved
        p = self.param.contrastive_loss_param
        num = bottom[0].shape[0]
        if p.legacy_version:
            mdist = p.margin - dist_sq
            factor = -torch.ones_like(dist_sq)
        else:
            dist = torch.sqrt(dist_sq)
            mdist = p.margin - dist
            factor = -mdist / (dist + 1e-4)
        factor = torch.where(mdist > 0, factor, torch.zeros_like(factor))
        factor = torch.where(similar, torch.ones_like(factor), factor)
        for i in range(2):
            if propagate_down[i]:
                alpha = (1.0 if i == 0 else -1.0) * top[0].tdiff.reshape(()) / num
                grad = diff * (alpha * factor).unsqueeze(1)
                bottom[i].tdiff = grad.reshape(bottom[i].shape)


@register('HingeLoss')
class HingeLoss(LossLayer):
    """One-vs-all hinge: sum over classes of max(0, 1 - s x) (s = +1 for the label,
    else -1), its L1 norm or squared L2 norm over N.

    As in Caffe, forward leaves the hinge margins in bottom 0's diff and backward
    reads them from there."""

    def reshape(self, bottom, top):
        super().reshape(bottom, top)
        check_same_num(self, bottom)

    def _flip(self, m, label):
        """``m`` with the entries of the true classes negated."""
        sign = torch.ones_like(m)
        sign.scatter_(1, label.unsqueeze(1), -1.0)
        return m * sign

    def forward(self, bottom, top):
        num = bottom[0].shape[0]
        label = per_sample_labels(self, bottom)
        x = bottom[0].tdata.reshape(num, -1)
        margin = torch.clamp(1 + self._flip(x, label), min=0)
        bottom[0].tdiff = margin.reshape(bottom[0].shape)
        if self.param.hinge_loss_param.norm == caffe_pb2.HingeLossParameter.L1:
            loss = margin.abs().sum(dtype=torch.float64)
        else:
            loss = (margin * margin).sum(dtype=torch.float64)
        top[0].tdata = (loss / num).float().reshape(())

    def backward(self, top, propagate_down, bottom):
        if not self.data_diff_wanted(propagate_down):
            return
        num = bottom[0].shape[0]
        label = bottom[1].tdata.reshape(num).long()
        d = self._flip(bottom[0].tdiff.reshape(num, -1), label)
        weight = top[0].tdiff.reshape(())
        if self.param.hinge_loss_param.norm == caffe_pb2.HingeLossParameter.L1:
            d = torch.sign(d) * (weight / num)
        else:
            d = d * (weight * 2 / num)
        bottom[0].tdiff = d.reshape(bottom[0].shape)


@register('MultinomialLogisticLoss')
class MultinomialLogisticLoss(LossLayer):
    """-log(p[label]) averaged over N, for probabilities p (no softmax)."""

    def reshape(self, bottom, top):
        super().reshape(bottom, top)
        check_same_num(self, bottom)
        if legacy_chw(bottom[1].shape) != (1, 1, 1):
            raise self.error('needs one label per sample (N x 1 x 1 x 1), got %s' % (bottom[1].shape,))

    def _probs(self, bottom):
        num = bottom[0].shape[0]
        label = bottom[1].tdata.reshape(num).long()
        p = bottom[0].tdata.reshape(num, -1).gather(1, label.unsqueeze(1)).squeeze(1)
        return label, torch.clamp(p, min=LOG_THRESHOLD)

    def forward(self, bottom, top):
        per_sample_labels(self, bottom)
        _, p = self._probs(bottom)
        loss = -torch.log(p).sum(dtype=torch.float64)
        top[0].tdata = (loss / bottom[0].shape[0]).float().reshape(())

    def backward(self, top, propagate_down, bottom):
        if not self.data_diff_wanted(propagate_down):
            return
        num = bottom[0].shape[0]
        label, p = self._probs(bottom)
        scale = -top[0].tdiff.reshape(()) / num
        grad = torch.zeros((num, bottom[0].count // max(num, 1)), device=p.device)
        grad.scatter_(1, label.unsqueeze(1), (scale / p).unsqueeze(1))
        bottom[0].tdiff = grad.reshape(bottom[0].shape)


@register('InfogainLoss')
class InfogainLoss(LossLayer):
    """-sum_l H[label, l] log(softmax(x)_l), normalized as loss_param says; H is the
    third bottom or the BlobProto file ``infogain_loss_param.source``."""
    exact_bottoms = -1
    min_bottoms = 2
    max_bottoms = 3
    max_tops = 2

    def layer_setup(self, bottom, top):
        super().layer_setup(bottom, top)
        lp = self.param.loss_param
        if lp.HasField('normalize'):
            raise self.error('loss_param.normalize is deprecated: use normalization')
        self.ignore = lp.ignore_label if lp.HasField('ignore_label') else None
        self.mode = lp.normalization
        self.H = None
        if len(bottom) < 3:
            self.H = self._read_source()

    def _read_source(self):
        p = self.param.infogain_loss_param
        if not p.HasField('source'):
            raise self.error('infogain_loss_param.source is required without a third bottom')
        H = self.read_blobproto('infogain_loss_param.source', p.source)
        return torch.as_tensor(H, dtype=torch.float32, device=self.device)

    def reshape(self, bottom, top):
        super().reshape(bottom, top)
        self.split_at_axis(bottom, self.param.infogain_loss_param.axis)
        shape = bottom[0].shape
        k = shape[self.axis]
        h_count = bottom[2].count if len(bottom) > 2 else self.H.numel()
        if h_count != k * k:
            raise self.error('H has %d entries, needs %d x %d' % (h_count, k, k))
        if len(top) > 1:
            top[1].reshape(shape)

    def _matrix(self, bottom):
        k = bottom[0].shape[self.axis]
        return (bottom[2].tdata if len(bottom) > 2 else self.H).reshape(k, k)

    def forward(self, bottom, top):
        k = bottom[0].shape[self.axis]
        self.check_labels(bottom[1], k, self.ignore)
        prob = torch.softmax(bottom[0].tdata.reshape(self.outer, k, self.inner), 1)
        lab = bottom[1].tdata.reshape(self.outer, self.inner).long()
        valid = torch.ones_like(lab, dtype=torch.bool) if self.ignore is None else lab != self.ignore
        safe = torch.where(valid, lab, torch.zeros_like(lab))
        rows = self._matrix(bottom)[safe].permute(0, 2, 1)  # (outer, k, inner): H[label, l]
        logp = torch.log(torch.clamp(prob, min=LOG_THRESHOLD))
        loss = -((rows * logp).sum(1) * valid).sum(dtype=torch.float64)
        self.norm = self.normalizer(self.mode, self.outer, self.inner, valid)
        top[0].tdata = (loss / self.norm).float().reshape(())
        self._saved = prob, safe, valid
        if len(top) > 1:
            top[1].tdata = prob.reshape(bottom[0].shape)

    def backward(self, top, propagate_down, bottom):
        wanted = self.data_diff_wanted(propagate_down)
        if len(bottom) > 2 and propagate_down[2]:
            raise self.error('cannot backpropagate to the infogain matrix input')
        if not wanted:
            return
        prob, safe, valid = self._saved
        H = self._matrix(bottom)
        rows = H[safe].permute(0, 2, 1)
        grad = prob * H.sum(1)[safe].unsqueeze(1) - rows
        grad = grad * valid.unsqueeze(1)
        scale = top[0].tdiff.reshape(()) / self.norm
        bottom[0].tdiff = (grad * scale).reshape(bottom[0].shape)
