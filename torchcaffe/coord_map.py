"""Coordinate maps between blobs of a NetSpec, and crops computed from them.

A layer maps input coordinates to output coordinates along its spatial axes as
``out = scale * in + shift`` (per axis). Composing the maps along two paths back to a
common ancestor relates any two blobs; ``crop`` turns that relation into a Crop layer
whose offsets align the first blob with the second, as pycaffe's ``coord_map.crop``.
Arithmetic is exact (fractions), so a non-integral offset is caught, not rounded.
"""
from fractions import Fraction

import numpy as np

from .errors import NetError
from .net_spec import layers as L

# Layers that keep every spatial coordinate where it is.
PASS_THROUGH_LAYERS = frozenset([
    'AbsVal', 'BatchNorm', 'Bias', 'BNLL', 'Dropout', 'Eltwise', 'ELU', 'Exp', 'Log',
    'LRN', 'MVN', 'Power', 'PReLU', 'ReLU', 'Scale', 'Sigmoid', 'Split', 'TanH',
    'Threshold'])
IDENTITY = (None, np.array([Fraction(1)], dtype=object), np.array([Fraction(0)], dtype=object))


class CropError(NetError, AssertionError):
    """Tops that a Crop cannot relate: scales differ, or the offset is negative or
    fractional (an AssertionError, as pycaffe's coord_map raises)."""


class DisconnectedError(NetError, RuntimeError):
    """Tops with no common ancestor through mapped layers (pycaffe: RuntimeError)."""


class UndefinedMapException(NetError):
    """A layer whose coordinate map is not defined (the walk stops there)."""


class AxisMismatchException(NetError):
    """Two maps that start their spatial axes at different axes."""


def _fractions(values):
    return np.array([Fraction(v) for v in values], dtype=object)


def _pair(first, h, w, default):
    """Per-axis values of a repeated field, or of its legacy ``_h``/``_w`` form."""
    if h or w:
        return [h, w]
    return list(first) or [default]


def conv_params(layer):
    """(axis, stride, dilated kernel extent, pad) of a Convolution/Pooling-like layer."""
    if layer.type == 'Pooling':
        p = layer.pooling_param
        if p.global_pooling:
            raise UndefinedMapException('global pooling has no coordinate map')
        stride = _pair([p.stride], p.stride_h, p.stride_w, 1)
        kernel = _pair([p.kernel_size] if p.kernel_size else [], p.kernel_h, p.kernel_w, 1)
        pad = _pair([p.pad], p.pad_h, p.pad_w, 0)
        return 1, _fractions(stride), _fractions(kernel), _fractions(pad)
    p = layer.convolution_param
    stride = _fractions(_pair(p.stride, p.stride_h, p.stride_w, 1))
    kernel = _fractions(_pair(p.kernel_size, p.kernel_h, p.kernel_w, 1))
    dilation = _fractions(list(p.dilation) or [1])
    pad = _fractions(_pair(p.pad, p.pad_h, p.pad_w, 0))
    return p.axis, stride, (kernel - 1) * dilation + 1, pad


def coord_map(fn):
    """(axis, scale, shift) of a layer: output coordinate = scale * input + shift.

    ``axis`` is the last non-spatial axis (None: any); scale and shift are per
    spatial axis (one value applies to all).
    """
    layer = fn.layer_param()
    kind = layer.type
    if kind in ('Convolution', 'Pooling', 'Im2col'):
        axis, stride, kernel, pad = conv_params(layer)
        return axis, 1 / stride, (pad - (kernel - 1) / 2) / stride
    if kind == 'Deconvolution':
        axis, stride, kernel, pad = conv_params(layer)
        return axis, stride, (kernel - 1) / 2 - pad
    if kind in PASS_THROUGH_LAYERS:
        return IDENTITY
    if kind == 'Concat' and layer.concat_param.axis == 1:
        return IDENTITY  # stacks channels; spatial coordinates are shared
    if kind == 'Crop':
        offset = _fractions(layer.crop_param.offset or [0])
        return layer.crop_param.axis - 1, IDENTITY[1], -offset
    raise UndefinedMapException('no coordinate map for a %s layer' % kind)


def compose(base, following):
    """The map of ``following`` applied after ``base``."""
    ax1, a1, b1 = base
    ax2, a2, b2 = following
    if ax1 is not None and ax2 is not None and ax1 != ax2:
        raise AxisMismatchException('spatial axes start after axis %d and %d' % (ax1, ax2))
    return (ax2 if ax1 is None else ax1), a1 * a2, a1 * b2 + b1


def inverse(cmap):
    """The map back from output to input coordinates."""
    ax, a, b = cmap
    return ax, 1 / a, -b / a


def _mapped_bottoms(top):
    """The bottoms a walk follows: all of them, but only the cropped one of a Crop."""
    bottoms = top.fn.inputs
    return bottoms[:1] if top.fn.type_name == 'Crop' else bottoms


def _ancestor_maps(top):
    """{ancestor: map from the ancestor's coordinates to ``top``'s}, walking back."""
    maps = {top: IDENTITY}
    frontier = [top]
    while frontier:
        current = frontier.pop()
        bottoms = _mapped_bottoms(current)
        if not bottoms:
            continue
        try:
            step = coord_map(current.fn)
        except UndefinedMapException:
            continue
        for bottom in bottoms:
            if bottom not in maps:
                maps[bottom] = compose(maps[current], step)
                frontier.append(bottom)
    return maps


def coord_map_from_to(top_from, top_to):
    """The map from ``top_from``'s coordinates to ``top_to``'s, via a common ancestor."""
    from_maps = _ancestor_maps(top_from)
    to_maps = _ancestor_maps(top_to)
    # The ancestor nearest to top_to (first found walking back from it) relates them.
    for ancestor, to_map in to_maps.items():
        if ancestor in from_maps:
            return compose(to_map, inverse(from_maps[ancestor]))
    raise DisconnectedError('cannot relate %r to %r: no common ancestor through layers '
                   'with coordinate maps' % (top_from, top_to))


def crop(top_from, top_to):
    """A Crop layer cutting ``top_from`` to the extent of ``top_to``, offsets computed."""
    axis, scale, shift = coord_map_from_to(top_from, top_to)
    what = 'cannot crop %r to %r' % (top_from, top_to)
    if any(a != 1 for a in scale):
        raise CropError('%s: their scales differ (%s)' % (what, ', '.join(map(str, scale))))
    if any(b > 0 for b in shift):
        raise CropError('%s: it would need a negative offset (%s)'
                       % (what, ', '.join(str(-b) for b in shift)))
    if any(b.denominator != 1 for b in shift):
        raise CropError('%s: the offset is not integral (%s)'
                       % (what, ', '.join(str(-b) for b in shift)))
    spatial = 2 if axis is None else axis + 1  # None: only pass-through layers between
    return L.Crop(top_from, top_to,
                  crop_param=dict(axis=spatial, offset=[int(-b) for b in shift]))
