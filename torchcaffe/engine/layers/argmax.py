"""ArgMax: the indices (and optionally values) of the top_k largest entries."""
import torch

from ..layer import Layer, register, count


@register('ArgMax')
class ArgMax(Layer):
    """Without ``axis``, per item over all its values: a (N, 1 or 2, top_k, ...) top.
    With ``axis``, along that axis: indices, or values with out_max_val."""
    exact_bottoms = 1
    exact_tops = 1

    def layer_setup(self, bottom, top):
        p = self.param.argmax_param
        self.k, self.out_max_val = p.top_k, p.out_max_val
        if self.k < 1:
            raise self.error('top_k must be at least 1, got %d' % self.k)
        shape = bottom[0].shape
        self.axis = None
        if p.HasField('axis'):
            self.axis = self.canonical_axis(p.axis, len(shape))
            if self.k > shape[self.axis]:
                raise self.error('top_k %d exceeds the size %d of axis %d'
                                 % (self.k, shape[self.axis], self.axis))
        elif self.k > count(shape, 1):
            raise self.error('top_k %d exceeds the %d values per item' % (self.k, count(shape, 1)))

    def reshape(self, bottom, top):
        shape = list(bottom[0].shape)
        if self.axis is not None:
            shape[self.axis] = self.k
        else:
            out = [1] * max(3, len(shape))
            out[0], out[1], out[2] = shape[0], 2 if self.out_max_val else 1, self.k
            shape = out
        top[0].reshape(tuple(shape))

    def _top_k(self, x):
        """Values and indices of the k largest along the last axis; ties go to the larger
        index, as Caffe's sort of (value, index) pairs in descending order does."""
        n = x.shape[-1]
        values, idx = torch.sort(x.flip(-1), dim=-1, descending=True, stable=True)
        return values[..., :self.k], (n - 1 - idx[..., :self.k]).to(x.dtype)

    def forward(self, bottom, top):
        x = bottom[0].tdata
        if self.axis is None:
            values, idx = self._top_k(x.reshape(x.shape[0], -1))
            y = torch.stack([idx, values], 1) if self.out_max_val else idx.unsqueeze(1)
        else:
            values, idx = self._top_k(x.movedim(self.axis, -1))
            y = (values if self.out_max_val else idx).movedim(-1, self.axis)
        top[0].tdata = y.reshape(top[0].shape).contiguous()
