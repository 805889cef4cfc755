"""Layers that route blobs without arithmetic: Split and Crop."""
import torch

from ..layer import Layer, register, axis_index


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


@register('Crop')
class Crop(Layer):
    """Crop bottom 0 to the shape of bottom 1 from ``axis`` on, at the given offsets."""
    exact_bottoms = 2
    exact_tops = 1

    def reshape(self, bottom, top):
        p = self.param.crop_param
        a, b = bottom[0].shape, bottom[1].shape
        if len(a) != len(b):
            raise self.error('bottoms have %d and %d axes' % (len(a), len(b)))
        axis = axis_index(p.axis, len(a))
        n = len(a) - axis
        offsets = list(p.offset)
        if len(offsets) not in (0, 1, n):
            raise self.error('crop_param needs 0, 1 or %d offsets, got %d' % (n, len(offsets)))
        offsets = [0] * n if not offsets else offsets * n if len(offsets) == 1 else offsets
        shape = list(a[:axis])
        for i, off in enumerate(offsets):
            size = b[axis + i]
            if a[axis + i] < off + size:
                raise self.error('crop of %d at offset %d on axis %d exceeds the input size %d '
                                 '(input %s, reference %s)' % (size, off, axis + i, a[axis + i], a, b))
            shape.append(size)
        self.slices = (slice(None),) * axis + tuple(slice(o, o + s) for o, s in zip(offsets, shape[axis:]))
        top[0].reshape(tuple(shape))

    def forward(self, bottom, top):
        top[0].tdata = bottom[0].tdata[self.slices].contiguous()

    def backward(self, top, propagate_down, bottom):
        # Caffe never writes bottom 1's diff.
        if propagate_down[0]:
            grad = torch.zeros_like(bottom[0].tdata)
            grad[self.slices] = top[0].tdiff
            bottom[0].tdiff = grad
