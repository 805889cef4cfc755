"""Pooling: MAX, AVE and STOCHASTIC with Caffe's output size (ceil, then clip) and divisors.

Torch's pooling kernels follow the same size rule and window semantics, but only
accept padding up to half the kernel; larger (legal in Caffe) padding goes
through an explicitly padded input. AVE is computed as a window sum divided by
Caffe's clipped window size, so every padding case shares one code path.

STOCHASTIC exists in Caffe's GPU code only. Its windows ignore the padding
(they start at ``p * stride`` and are clipped to the input). TRAIN samples one
element per window with probability proportional to its value (the values are
meant to be non-negative) and backward routes the diff to it; TEST outputs the
probability-weighted average sum(x^2) / sum(x) (0 where the sum is not positive).
"""
import numpy as np
import torch
import torch.nn.functional as F

from ...proto import caffe_pb2
from .. import device, repeats
from ..layer import Layer, register

P = caffe_pb2.PoolingParameter
aten = torch.ops.aten


def pooled_size(size, kernel, stride, pad, ceil):
    """Caffe's output length along one axis."""
    span = size + 2 * pad - kernel
    out = (-(-span // stride) if ceil else span // stride) + 1
    if pad and (out - 1) * stride >= size + pad:
        out -= 1  # the last window would start inside the padding
    return out


def _pair(p, name, single=None):
    """[h, w] from ``<name>_h``/``<name>_w`` or the single field (``<name>`` by default)."""
    if p.HasField(name + '_h') or p.HasField(name + '_w'):
        return [getattr(p, name + '_h'), getattr(p, name + '_w')]
    v = getattr(p, single or name)
    return [v, v]


@register('Pooling')
class Pooling(Layer):
    exact_bottoms = 1
    min_tops = 1
    max_tops = 2

    def layer_setup(self, bottom, top):
        p = self.param.pooling_param
        self.method = p.pool
        if len(top) == 2 and self.method != P.MAX:
            raise self.error('only MAX pooling has a second (mask) top')
        self.low_precision = self.method == P.MAX  # AVE divides by float32 window sizes
        self.global_ = p.global_pooling
        if self.global_:
            if p.HasField('kernel_size') or p.HasField('kernel_h') or p.HasField('kernel_w'):
                raise self.error('global_pooling takes no kernel size')
        elif not (p.HasField('kernel_size') or (p.HasField('kernel_h') and p.HasField('kernel_w'))):
            raise self.error('kernel_size (or kernel_h and kernel_w) is required')
        self.pad = _pair(p, 'pad')
        self.stride = _pair(p, 'stride')
        if self.global_ and (any(self.pad) or self.stride != [1, 1]):
            raise self.error('global_pooling needs pad 0 and stride 1')
        self.ceil = p.round_mode == P.CEIL

    def reshape(self, bottom, top):
        shape = bottom[0].shape
        if len(shape) != 4:
            raise self.error('needs a 4-d bottom, got %s' % (shape,))
        p = self.param.pooling_param
        self.kernel = list(shape[2:]) if self.global_ else _pair(p, 'kernel', 'kernel_size')
        if any(k <= 0 for k in self.kernel) or any(s <= 0 for s in self.stride):
            raise self.error('kernel and stride must be positive')
        if any(pd >= k for pd, k in zip(self.pad, self.kernel)):
            raise self.error('pad %s must be smaller than kernel %s' % (self.pad, self.kernel))
        self.out = [pooled_size(shape[2 + i], self.kernel[i], self.stride[i], self.pad[i], self.ceil)
                    for i in range(2)]
        for t in top:
            t.reshape(shape[:2] + tuple(self.out))
        self._divisor = None

    def _padded(self, x, fill):
        """Input padded so plain floor-mode pooling yields Caffe's windows, and torch's pad."""
        if all(pd <= k // 2 for pd, k in zip(self.pad, self.kernel)):
            return x, self.pad
        extra = [max(0, (o - 1) * s + k - (n + pd))
                 for o, s, k, n, pd in zip(self.out, self.stride, self.kernel, x.shape[2:], self.pad)]
        x = F.pad(x, (self.pad[1], extra[1], self.pad[0], extra[0]), value=fill)
        return x, [0, 0]

    def _ceil_mode(self, pad):
        # Torch applies the same ceil-and-clip rule when it pads itself.
        return self.ceil and pad == self.pad

    def _plan(self, bottom, top):
        """How MAX pooling computes on ``bottom`` packed (repeats.plan), or None."""
        if len(top) > 1 or not device.skip_repeats() or \
                any(pd > k // 2 or k < s for pd, k, s in zip(self.pad, self.kernel, self.stride)):
            return None
        return repeats.plan(bottom, self.kernel, self.stride, self.pad, pad_is_zero_run=False)

    def forward(self, bottom, top):
        oh, ow = self.out
        if self.method == P.STOCHASTIC:
            top[0].tdata = self._stochastic(bottom[0].tdata)
        elif self.method == P.MAX:
            plan = self._plan(bottom[0], top)
            if plan is not None:
                y = F.max_pool2d(plan.input, self.kernel, self.stride, plan.pad, 1, self.ceil)
                top[0].set_packed(plan.output(y, top[0].shape))
                self._idx, self._torch_padded = None, True  # backward finds the argmax
                return
            x = bottom[0].tdata
            xp, pad = self._padded(x, float('-inf'))
            if not self.need_backward and len(top) == 1:  # no argmax to keep
                y = F.max_pool2d(xp, self.kernel, self.stride, pad, 1, self._ceil_mode(pad))
                top[0].tdata = y[:, :, :oh, :ow]
                return
            y, idx = F.max_pool2d(xp, self.kernel, self.stride, pad, 1, self._ceil_mode(pad), True)
            y, idx = y[:, :, :oh, :ow], idx[:, :, :oh, :ow]
            if pad != self.pad:  # indices into the padded plane -> the input plane
                wp = xp.shape[3]
                h, w = idx // wp - self.pad[0], idx % wp - self.pad[1]
                idx = h * x.shape[3] + w
            self._idx, self._torch_padded = idx, pad == self.pad
            top[0].tdata = y
            if len(top) > 1:
                top[1].tdata = idx.float()
        else:
            x = bottom[0].tdata
            xp, pad = self._padded(x, 0.0)
            s = F.avg_pool2d(xp, self.kernel, self.stride, pad, self._ceil_mode(pad), True, 1)
            top[0].tdata = (s[:, :, :oh, :ow] / self.divisor(x)).contiguous()

    def divisor(self, x):
        """Caffe's AVE window sizes: each window clipped to [-pad, size + pad)."""
        if self._divisor is None or self._divisor.device != x.device:
            sizes = []
            for i in range(2):
                start = np.arange(self.out[i]) * self.stride[i] - self.pad[i]
                end = np.minimum(start + self.kernel[i], x.shape[2 + i] + self.pad[i])
                sizes.append(end - start)
            self._divisor = torch.tensor(np.outer(*sizes), dtype=torch.float32, device=x.device)
        return self._divisor

    def _windows(self, x):
        """(N*C, kh*kw, oh*ow) windows of ``x`` starting at multiples of the stride,
        zero-filled past the input's end, and each window's top-left (h, w)."""
        n, c, h, w = x.shape
        need = [(o - 1) * s + k for o, s, k in zip(self.out, self.stride, self.kernel)]
        xp = F.pad(x.reshape(n * c, 1, h, w), (0, need[1] - w, 0, need[0] - h))
        cols = F.unfold(xp, self.kernel, stride=self.stride)
        return cols, [torch.arange(o, device=x.device) * s for o, s in zip(self.out, self.stride)]

    def _stochastic(self, x):
        n, c, h, w = x.shape
        cols, (h0, w0) = self._windows(x)
        total = cols.sum(1)
        if self.phase != caffe_pb2.TRAIN:
            weighted = (cols * cols).sum(1)
            y = torch.where(total > 0, weighted / total.where(total > 0, torch.ones_like(total)),
                            torch.zeros_like(total))
            return y.reshape(n, c, *self.out)
        # The first element whose running sum reaches u * window sum, u ~ U(0, 1).
        thres = torch.rand_like(total) * total
        pick = (cols.cumsum(1) >= thres.unsqueeze(1)).int().argmax(1)
        y = cols.gather(1, pick.unsqueeze(1)).squeeze(1)
        kw = self.kernel[1]
        rows = h0.repeat_interleave(self.out[1]) + pick // kw
        colw = w0.repeat(self.out[0]) + pick % kw
        # A window wholly in the padding (possible with pad) holds nothing to pick:
        # it outputs 0 and takes no diff (Caffe leaves both undefined).
        self._inside = (rows < h) & (colw < w)
        self._idx = torch.where(self._inside, rows * w + colw, torch.zeros_like(rows))
        return y.reshape(n, c, *self.out)

    def _stochastic_backward(self, g, x):
        n, c, h, w = x.shape
        grad = torch.zeros((n * c, h * w), dtype=g.dtype, device=g.device)
        if self.phase == caffe_pb2.TRAIN:
            grad.scatter_add_(1, self._idx, g.reshape(n * c, -1) * self._inside)
        else:
            # Caffe never samples in TEST, so its index buffer stays 0: only input
            # element 0 takes a diff, that of the one window covering it.
            grad[0, 0] = g.reshape(-1)[0]
        return grad.reshape(x.shape)

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        x = bottom[0].tdata
        g = top[0].tdiff
        n, c, h, w = x.shape
        if self.method == P.STOCHASTIC:
            bottom[0].tdiff = self._stochastic_backward(g, x)
            return
        if self.method == P.MAX:
            if self._idx is None:  # a packed forward: the argmax of the full input, as torch finds it
                self._idx = F.max_pool2d(x, self.kernel, self.stride, self.pad, 1, self.ceil, True)[1]
            if self._torch_padded:  # torch's own kernel: no NCHW copies of channels_last data
                bottom[0].tdiff = aten.max_pool2d_with_indices_backward(
                    g.to(x.dtype), x, self.kernel, self.stride, self.pad, [1, 1], self.ceil, self._idx)
                return
            grad = torch.zeros((n, c, h * w), dtype=g.dtype, device=g.device)
            grad.scatter_add_(2, self._idx.reshape(n, c, -1), g.reshape(n, c, -1))
            bottom[0].tdiff = grad.reshape(x.shape)
            return
        xp, pad = self._padded(x, 0.0)
        gs = g / self.divisor(x)
        full = aten.avg_pool2d(xp, self.kernel, self.stride, pad, self._ceil_mode(pad), True, 1).shape
        if tuple(full[2:]) != tuple(self.out):
            gs = F.pad(gs, (0, full[3] - self.out[1], 0, full[2] - self.out[0]))
        grad = aten.avg_pool2d_backward(gs.contiguous(), xp, self.kernel, self.stride, pad,
                                        self._ceil_mode(pad), True, 1)
        if pad != self.pad:
            grad = grad[:, :, self.pad[0]:self.pad[0] + h, self.pad[1]:self.pad[1] + w]
        bottom[0].tdiff = grad.contiguous()
