"""BatchReindex: top item i is bottom item indices[i] (the second bottom, 1-axis)."""
import torch

from ..layer import Layer, register


@register('BatchReindex')
class BatchReindex(Layer):
    exact_bottoms = 2
    exact_tops = 1

    def reshape(self, bottom, top):
        if len(bottom[1].shape) != 1:
            raise self.error('the index bottom must have 1 axis, got %s' % (bottom[1].shape,))
        top[0].reshape((bottom[1].shape[0],) + tuple(bottom[0].shape[1:]))

    def indices(self, bottom):
        """The indices, checked on the host against the batch size as Caffe checks them."""
        host = bottom[1].read_data()
        n = bottom[0].shape[0]
        bad = ~((host >= 0) & (host < n))
        if bad.any():
            raise self.error('index %g outside the batch [0, %d)' % (host[bad][0], n))
        return bottom[1].tdata.long()

    def forward(self, bottom, top):
        self.idx = self.indices(bottom)
        top[0].tdata = bottom[0].tdata.index_select(0, self.idx)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[1]:
            raise self.error('cannot backpropagate to the index input')
        if propagate_down[0]:
            grad = torch.zeros_like(bottom[0].tdata)
            bottom[0].tdiff = grad.index_add_(0, self.idx, top[0].tdiff)
