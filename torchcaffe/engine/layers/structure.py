"""Layers that route blobs: Split."""
from ..layer import Layer, register


@register('Split')
class Split(Layer):
    """Tops share the bottom's data; the bottom diff is the sum of the top diffs."""
    exact_bottoms = 1
    min_tops = 1

    def reshape(self, bottom, top):
        for t in top:
            t.reshape(bottom[0].shape)
            t.share_data(bottom[0])

    def forward(self, bottom, top):
        pass

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        total = top[0].tdiff.clone()
        for t in top[1:]:
            total += t.tdiff
        bottom[0].tdiff = total
