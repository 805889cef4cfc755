"""Layers that route blobs without arithmetic: Split and Crop."""
import torch

from ..layer import Layer, register, axis_index


@register('Split')
class Split(Layer):
    """Tops share the bottom's data; the bottom diff is the sum of the top diffs."""
    exact_bottoms = 1
    low_precision = True
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
    low_precision = True
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


def _concat_axis(layer, param, num_axes):
    """``axis``, or the legacy ``concat_dim``/``slice_dim`` when only that is set."""
    legacy = 'concat_dim' if hasattr(param, 'concat_dim') else 'slice_dim'
    if param.HasField(legacy):
        if param.HasField('axis'):
            raise layer.error('give axis or %s, not both' % legacy)
        return getattr(param, legacy)
    return axis_index(param.axis, num_axes)


@register('Concat')
class Concat(Layer):
    min_bottoms = 1
    low_precision = True
    exact_tops = 1

    def reshape(self, bottom, top):
        shape = list(bottom[0].shape)
        self.axis = _concat_axis(self, self.param.concat_param, len(shape))
        for i, b in enumerate(bottom[1:], 1):
            s = list(b.shape)
            if len(s) != len(shape) or s[:self.axis] + s[self.axis + 1:] != shape[:self.axis] + shape[self.axis + 1:]:
                raise self.error('bottom %d has shape %s, incompatible with %s along axis %d'
                                 % (i, b.shape, bottom[0].shape, self.axis))
        shape[self.axis] = sum(b.shape[self.axis] for b in bottom)
        top[0].reshape(tuple(shape))

    def forward(self, bottom, top):
        top[0].tdata = torch.cat([b.tdata for b in bottom], self.axis)

    def backward(self, top, propagate_down, bottom):
        parts = torch.split(top[0].tdiff, [b.shape[self.axis] for b in bottom], self.axis)
        for b, down, g in zip(bottom, propagate_down, parts):
            if down:
                b.tdiff = g.contiguous()


@register('Slice')
class Slice(Layer):
    exact_bottoms = 1
    low_precision = True
    min_tops = 1

    def reshape(self, bottom, top):
        shape = bottom[0].shape
        p = self.param.slice_param
        self.axis = _concat_axis(self, p, len(shape))
        n = shape[self.axis]
        points = list(p.slice_point)
        if points:
            if len(points) != len(top) - 1 or points != sorted(points) or points[-1] >= n or points[0] <= 0:
                raise self.error('slice_point %s does not cut %d entries into %d tops' % (points, n, len(top)))
            bounds = [0] + points + [n]
            self.sizes = [b - a for a, b in zip(bounds, bounds[1:])]
        else:
            if n % len(top):
                raise self.error('axis %d of size %d does not divide into %d tops' % (self.axis, n, len(top)))
            self.sizes = [n // len(top)] * len(top)
        for t, size in zip(top, self.sizes):
            s = list(shape)
            s[self.axis] = size
            t.reshape(tuple(s))

    def forward(self, bottom, top):
        for t, part in zip(top, torch.split(bottom[0].tdata, self.sizes, self.axis)):
            t.tdata = part.contiguous()

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            bottom[0].tdiff = torch.cat([t.tdiff for t in top], self.axis)


@register('Silence')
class Silence(Layer):
    """Consumes blobs so they are not net outputs; backward zeroes their diffs."""
    min_bottoms = 1
    low_precision = True
    exact_tops = 0

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        pass

    def backward(self, top, propagate_down, bottom):
        for b, down in zip(bottom, propagate_down):
            if down:
                b.tdiff = torch.zeros_like(b.tdata)


class _View(Layer):
    """A new shape over the same values: data forward, diff backward."""
    exact_bottoms = 1
    low_precision = True
    exact_tops = 1

    def layer_setup(self, bottom, top):
        if top[0] is bottom[0]:
            raise self.error('cannot run in place')

    def forward(self, bottom, top):
        top[0].tdata = bottom[0].tdata.reshape(top[0].shape)

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            bottom[0].tdiff = top[0].tdiff.reshape(bottom[0].shape)


@register('Flatten')
class Flatten(_View):
    def reshape(self, bottom, top):
        p = self.param.flatten_param
        shape = bottom[0].shape
        start = axis_index(p.axis, len(shape))
        end = axis_index(p.end_axis, len(shape))
        flat = 1
        for d in shape[start:end + 1]:
            flat *= d
        top[0].reshape(tuple(shape[:start]) + (flat,) + tuple(shape[end + 1:]))


@register('Reshape')
class Reshape(_View):
    def reshape(self, bottom, top):
        p = self.param.reshape_param
        shape = list(bottom[0].shape)
        start = p.axis if p.axis >= 0 else len(shape) + p.axis + 1
        end = len(shape) if p.num_axes == -1 else start + p.num_axes
        if not 0 <= start <= end <= len(shape):
            raise self.error('axis %d with num_axes %d is out of range for %s' % (p.axis, p.num_axes, tuple(shape)))
        new = list(p.shape.dim)
        if new.count(-1) > 1:
            raise self.error('reshape_param.shape may contain at most one -1')
        for i, d in enumerate(new):
            if d == 0:
                if start + i >= len(shape):
                    raise self.error('dim %d is 0 but the bottom has no axis %d to copy' % (i, start + i))
                new[i] = shape[start + i]
        out = shape[:start] + new + shape[end:]
        total = bottom[0].count
        if -1 in new:
            known = 1
            for d in out:
                known *= d if d != -1 else 1
            if known == 0 or total % known:
                raise self.error('count %d is not divisible by %d' % (total, known))
            out[out.index(-1)] = total // known
        size = 1
        for d in out:
            size *= d
        if size != total:
            raise self.error('cannot reshape %s (%d values) to %s' % (bottom[0].shape, total, tuple(out)))
        top[0].reshape(tuple(out))
