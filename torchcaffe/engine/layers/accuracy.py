"""Accuracy: top-k classification accuracy, optionally per class (second top)."""
import torch

from ..layer import Layer, register, axis_index, count


@register('Accuracy')
class Accuracy(Layer):
    exact_bottoms = 2
    min_tops = 1
    max_tops = 2

    def reshape(self, bottom, top):
        p = self.param.accuracy_param
        shape = bottom[0].shape
        self.axis = axis_index(p.axis, len(shape))
        self.outer, self.inner = count(shape, 0, self.axis), count(shape, self.axis + 1)
        if self.outer * self.inner != bottom[1].count:
            raise self.error('label count %d does not match prediction %s' % (bottom[1].count, shape))
        if p.top_k > shape[self.axis]:
            raise self.error('top_k %d exceeds the %d classes' % (p.top_k, shape[self.axis]))
        top[0].reshape(())
        if len(top) > 1:
            top[1].reshape((shape[self.axis],))

    def forward(self, bottom, top):
        p = self.param.accuracy_param
        classes = bottom[0].shape[self.axis]
        ignore = p.ignore_label if p.HasField('ignore_label') else None
        self.check_labels(bottom[1], classes, ignore)
        scores = bottom[0].tdata.reshape(self.outer, classes, self.inner)
        label = bottom[1].tdata.reshape(self.outer, self.inner).long()
        valid = torch.ones_like(label, dtype=torch.bool) if ignore is None else label != ignore
        safe = torch.where(valid, label, torch.zeros_like(label))
        true = scores.gather(1, safe.unsqueeze(1))
        # Caffe counts ties against the true class: correct iff fewer than top_k
        # other classes score at least as high.
        better = (scores >= true).sum(1) - 1
        correct = (better < p.top_k) & valid
        n = valid.sum()
        # float32 division, as Caffe computes accuracy / count
        top[0].tdata = torch.where(n > 0, correct.sum().float() / n.clamp(min=1).float(),
                                   torch.zeros((), device=scores.device))
        if len(top) > 1:
            hits = torch.bincount(safe[correct], minlength=classes).float()
            totals = torch.bincount(safe[valid], minlength=classes).float()
            top[1].tdata = torch.where(totals > 0, hits / totals.clamp(min=1), torch.zeros_like(hits))
