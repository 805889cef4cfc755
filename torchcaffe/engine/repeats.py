"""Feature maps held without most of their repeated rows and columns.

An FCN pads its input by 100 pixels. Far from the image, every row of conv1_1's
output is the response to zeros, so about half of each early map is a band of
identical rows and columns. Here a map may be held *packed*: a tensor in which a
run of identical rows (or columns) keeps only a few copies, with a count of the
copies left out. A convolution or pooling window that lies wholly inside such a
run gives the same result wherever it sits in the run, so removing whole strides
of the run's rows removes whole output rows and changes no other output. The layer
computes on the packed tensor, every output position with the same kernel as on
the full map, and its output is packed in turn. The band of equal rows narrows
as the receptive field grows; in a 500 x 500 FCN-8s forward about a fifth of the
arithmetic is left out. The full map is made only when something else reads it.

A run is ``(lo, hi, extra)``: rows ``lo..hi`` of the packed tensor are equal, and
the full map has ``extra`` more of them. Runs are kept per spatial axis (2-d maps).
"""
import math
from typing import NamedTuple

import torch


# A zero padding made a run keeps 16 more rows than one window needs, so the next
# layers, whose maps are the largest, need not widen it (widening copies the map);
# it leaves out a multiple of 16, which four stride-2 poolings can halve.
ORIGIN_SLACK, ALIGN = 16, 16


class Packed(NamedTuple):
    tensor: torch.Tensor  # N, C, H, W
    runs: tuple  # (runs along H, runs along W)


def full_size(size, runs):
    return size + sum(extra for _, _, extra in runs)


def _stretches(size, runs):
    """An axis of ``size`` packed rows as (packed row, full row, rows, copies): the rows
    between runs' ends, once each, and each run's end, ``1 + extra`` times."""
    row = full = 0
    for _, hi, extra in sorted(runs):
        yield row, full, hi - row, 1
        full += hi - row
        yield hi, full, 1, 1 + extra
        row, full = hi + 1, full + 1 + extra
    yield row, full, size - row, 1


def _per_axis(t, step):
    """``t`` after ``step(view, dim, axis)`` for each spatial axis, applied to the view
    whose memory is contiguous (NHWC for channels_last); in ``t``'s memory format."""
    nhwc = t.dim() == 4 and t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()
    v = t.permute(0, 2, 3, 1) if nhwc else t
    for axis in range(t.dim() - 2):
        v = step(v, axis + (1 if nhwc else 2), axis)
    return v.permute(0, 3, 1, 2) if nhwc else v


def _gather(t, sizes_runs):
    """``t`` with each spatial axis expanded by its runs (axes without runs untouched)."""
    sizes_runs = list(sizes_runs)

    def step(v, dim, axis):
        size, runs = sizes_runs[axis]
        if not runs:
            return v
        shape = list(v.shape)
        shape[dim] = full_size(size, runs)
        out = v.new_empty(shape)
        for row, full, n, copies in _stretches(size, runs):
            shape[dim] = n * copies
            out.narrow(dim, full, n * copies).copy_(v.narrow(dim, row, n).expand(shape))
        return out
    return _per_axis(t, step)


def expand(packed):
    """The full map."""
    t = packed.tensor
    return _gather(t, zip(t.shape[2:], packed.runs))


def fold(t, runs):
    """The adjoint of expanding a map with ``runs`` (per axis): the packed-size map in
    which each row (column) sums the full rows it stands for. A weight gradient needs
    only these sums, as the rows one stands for have the same input window."""
    def step(v, dim, axis):
        if not runs[axis]:
            return v
        shape = list(v.shape)
        shape[dim] -= sum(extra for _, _, extra in runs[axis])
        out = v.new_empty(shape)
        for row, full, n, copies in _stretches(shape[dim], runs[axis]):
            rows = v.narrow(dim, full, n * copies)
            if copies == 1:
                out.narrow(dim, row, n).copy_(rows)
            else:
                torch.sum(rows, dim, keepdim=True, out=out.narrow(dim, row, 1))
        return out
    return _per_axis(t, step)


def _axis(size, runs, extent, stride, pad, pad_is_zero_run):
    """Plan one axis of a window layer (``extent`` = dilated kernel span) on a packed
    input of length ``size``: (rows to add to each run of the input, so a window fits
    inside it and what stays left out is whole strides; the padding to compute with;
    the output's runs)."""
    need = extent + stride - 1  # a run this long holds a whole window at any alignment
    adds, kept, shift = [], [], 0
    for lo, hi, extra in runs:
        add = max(0, need - (hi - lo + 1))
        add = min(extra, add + (extra - add) % stride)
        adds.append(add)
        if extra > add:
            kept.append((lo + shift, hi + shift + add, extra - add))
        shift += add
    size += shift
    unit = math.lcm(ALIGN, stride)
    left_out = (pad - need - ORIGIN_SLACK) // unit * unit if pad_is_zero_run else 0
    p = pad - max(0, left_out)
    kept = [(lo + p, hi + p, extra) for lo, hi, extra in kept]
    if left_out > 0:  # a wide zero padding: itself a run
        kept = [(0, p - 1, left_out)] + kept + [(size + p, size + 2 * p - 1, left_out)]
    out = tuple((-(-lo // stride), (hi - extent + 1) // stride, extra // stride) for lo, hi, extra in kept)
    return adds, p, out


class Plan(NamedTuple):
    input: torch.Tensor  # the packed input, widened where a window did not fit
    pad: list  # the padding to compute with
    runs: tuple  # the output's runs per axis

    def output(self, y, full_shape):
        """The layer's output ``y`` (computed on ``input``) as a Packed map of ``full_shape``."""
        for axis, runs in enumerate(self.runs):
            if full_size(y.shape[2 + axis], runs) != full_shape[2 + axis]:
                raise RuntimeError('packed output %s with runs %s does not make %s'
                                   % (tuple(y.shape), self.runs, tuple(full_shape)))
        return Packed(y, self.runs)


def plan(blob, extent, stride, pad, pad_is_zero_run):
    """How a window layer (2-d ``extent``, ``stride`` and ``pad``) computes on ``blob``
    packed, or None when nothing would be left out (compute on the full map)."""
    packed = blob.packed()
    if packed is None and not pad_is_zero_run:
        return None
    x = blob.tdata if packed is None else packed.tensor
    runs = ((), ()) if packed is None else packed.runs
    axes = [_axis(x.shape[2 + i], runs[i], extent[i], stride[i], pad[i], pad_is_zero_run) for i in range(2)]
    if not any(out for _, _, out in axes):
        return None
    widened = [(size, tuple((lo, hi, add) for (lo, hi, _), add in zip(axis_runs, adds) if add))
               for size, axis_runs, (adds, _, _) in zip(x.shape[2:], runs, axes)]
    return Plan(_gather(x, widened), [p for _, p, _ in axes], tuple(out for _, _, out in axes))
