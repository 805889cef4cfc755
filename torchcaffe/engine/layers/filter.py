"""Filter: keep the items (first-axis entries) of each bottom whose selector value,
in the last bottom, is nonzero. The top's batch size depends on the selector data."""
import numpy as np
import torch

from ..layer import Layer, register


@register('Filter')
class Filter(Layer):
    min_bottoms = 2
    min_tops = 1

    def layer_setup(self, bottom, top):
        if len(top) != len(bottom) - 1:
            raise self.error('needs one top per filtered bottom (%d bottoms besides the '
                             'selector, %d tops)' % (len(bottom) - 1, len(top)))
        self.first = True  # Caffe's setup sizes the tops for the whole batch

    def reshape(self, bottom, top):
        sel = bottom[-1]
        if any(d != 1 for d in sel.shape[1:]):
            raise self.error('the selector must have singleton axes after the first, got %s'
                             % (sel.shape,))
        for i, b in enumerate(bottom[:-1]):
            if b.shape[0] != sel.shape[0]:
                raise self.error('bottom %d has %d items, the selector %d'
                                 % (i, b.shape[0], sel.shape[0]))
        # The selection is host-side in Caffe too: the top shape depends on it.
        keep = np.flatnonzero(sel.read_data().reshape(-1) != 0)
        self.keep = torch.as_tensor(keep, dtype=torch.long, device=sel.tdata.device)
        n = bottom[0].shape[0] if self.first else len(keep)
        self.first = False
        for t, b in zip(top, bottom):
            t.reshape((n,) + tuple(b.shape[1:]))

    def forward(self, bottom, top):
        for t, b in zip(top, bottom):
            t.tdata = b.tdata.index_select(0, self.keep)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[-1]:
            raise self.error('cannot backpropagate to the selector input')
        for t, b, down in zip(top, bottom, propagate_down):
            if down:
                grad = torch.zeros_like(b.tdata)
                grad[self.keep] = t.tdiff
                b.tdiff = grad
