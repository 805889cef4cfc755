"""Caffe's weight fillers: constant, uniform, gaussian (sparse), positive_unitball,
xavier, msra and bilinear. Random draws use torch's generator (set_random_seed)."""
import math

import numpy as np
import torch

from ..proto import caffe_pb2

_VN = caffe_pb2.FillerParameter


def _fans(shape):
    count = int(np.prod(shape))
    fan_in = count // shape[0]
    fan_out = count // shape[1] if len(shape) > 1 else count
    return fan_in, fan_out


def _norm(param, shape):
    fan_in, fan_out = _fans(shape)
    if param.variance_norm == _VN.AVERAGE:
        return (fan_in + fan_out) / 2.0
    if param.variance_norm == _VN.FAN_OUT:
        return float(fan_out)
    return float(fan_in)


def bilinear(shape):
    """Caffe's bilinear kernel for every (in, out) pair of a 4-d square blob."""
    k = shape[-1]
    f = np.float32(math.ceil(k / 2.0))
    c = np.float32((k - 1) / (2.0 * f))
    x = np.arange(k, dtype=np.float32)
    w = np.float32(1) - np.abs(x / f - c)
    return np.broadcast_to(w[:, None] * w[None, :], shape).astype(np.float32)


def fill(blob, param, layer=None):
    """Fill ``blob`` as FillerParameter ``param`` says (None: constant 0, Caffe's default)."""
    param = param if param is not None else caffe_pb2.FillerParameter()
    shape = blob.shape
    kind = param.type
    where = "layer '%s': " % layer.name if layer is not None else ''
    if param.sparse >= 0 and kind != 'gaussian':
        raise ValueError('%s%s filler does not support sparse' % (where, kind))
    if kind == 'constant':
        blob.data[...] = param.value
        return
    if kind == 'bilinear':
        if len(shape) != 4 or shape[2] != shape[3]:
            raise ValueError('%sbilinear filler needs a square 4-d blob, not %s' % (where, shape))
        blob.data[...] = bilinear(shape)
        return
    t = torch.empty(shape, dtype=torch.float32)
    if kind == 'uniform':
        t.uniform_(param.min, param.max)
    elif kind == 'gaussian':
        t.normal_(param.mean, param.std)
        if param.sparse >= 0:
            keep = torch.full(shape, param.sparse / shape[0]).bernoulli_()
            t *= keep
    elif kind == 'positive_unitball':
        t.uniform_(0, 1)
        t = t.reshape(shape[0], -1)
        t /= t.sum(1, keepdim=True)
    elif kind == 'xavier':
        scale = math.sqrt(3.0 / _norm(param, shape))
        t.uniform_(-scale, scale)
    elif kind == 'msra':
        t.normal_(0, math.sqrt(2.0 / _norm(param, shape)))
    else:
        raise ValueError("%sunknown filler type '%s'" % (where, kind))
    blob.data[...] = t.reshape(shape).numpy()
