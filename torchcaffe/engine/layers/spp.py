"""SPP: spatial pyramid pooling. Level i pools the input into about 2^i x 2^i bins
(Caffe's kernel, stride and padding rule), each level is flattened and the levels
are concatenated along axis 1; a one-level pyramid is the single pooling, unflattened."""
import math

import torch

from ...proto import caffe_pb2
from ..blob import Blob
from ..layer import Layer, register
from .pooling import Pooling

SPP_METHODS = {caffe_pb2.SPPParameter.MAX: caffe_pb2.PoolingParameter.MAX,
               caffe_pb2.SPPParameter.AVE: caffe_pb2.PoolingParameter.AVE,
               caffe_pb2.SPPParameter.STOCHASTIC: caffe_pb2.PoolingParameter.STOCHASTIC}


def level_param(name, level, height, width, method):
    """The LayerParameter of the pooling of pyramid ``level`` over a height x width input."""
    bins = 2 ** level
    p = caffe_pb2.LayerParameter(name='%s/level%d' % (name, level), type='Pooling')
    pp = p.pooling_param
    pp.pool = method
    for axis, size in (('h', height), ('w', width)):
        kernel = math.ceil(size / bins)
        pad = (kernel * bins - size + 1) // 2  # half the shortfall, rounded up
        setattr(pp, 'kernel_' + axis, kernel)
        setattr(pp, 'stride_' + axis, kernel)
        setattr(pp, 'pad_' + axis, pad)
    return p


@register('SPP')
class SPP(Layer):
    exact_bottoms = 1
    exact_tops = 1

    def layer_setup(self, bottom, top):
        p = self.param.spp_param
        if p.pyramid_height < 1:
            raise self.error('spp_param.pyramid_height must be at least 1')
        self.height = p.pyramid_height
        self.method = SPP_METHODS[p.pool]
        self.built_for = None

    def reshape(self, bottom, top):
        shape = bottom[0].shape
        if len(shape) != 4:
            raise self.error('needs a 4-d bottom (num, channels, height, width), got %s' % (shape,))
        if shape[2] <= 0 or shape[3] <= 0:
            raise self.error('input height and width must be positive, got %s' % (shape,))
        if shape != self.built_for:
            self._build(bottom[0])
        if self.height == 1:
            top[0].reshape(self.outs[0].shape)
        else:
            top[0].reshape((shape[0], sum(o.count // max(shape[0], 1) for o in self.outs)))

    def _build(self, bottom):
        """One pooling layer per level, on a blob that shares the bottom's data."""
        n, c, h, w = bottom.shape
        self.pools, self.ins, self.outs = [], [], []
        for level in range(self.height):
            # Caffe's inner layers get a fresh LayerParameter, whose phase is TRAIN.
            pool = Pooling(level_param(self.name, level, h, w, self.method), caffe_pb2.TRAIN, self.device)
            src, out = Blob(bottom.shape, self.device), Blob((), self.device)
            try:
                pool.setup([src], [out])
            except Exception as e:
                raise self.error('pyramid level %d of a %dx%d input: %s' % (level, h, w, e)) from None
            self.pools.append(pool)
            self.ins.append(src)
            self.outs.append(out)
        self.built_for = bottom.shape

    def forward(self, bottom, top):
        n = bottom[0].shape[0]
        for pool, src, out in zip(self.pools, self.ins, self.outs):
            src.tdata = bottom[0].tdata
            pool.forward([src], [out])
        flat = [o.tdata.reshape(n, -1) for o in self.outs]
        top[0].tdata = flat[0].reshape(top[0].shape) if self.height == 1 else torch.cat(flat, 1)

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        n = bottom[0].shape[0]
        sizes = [o.count // max(n, 1) for o in self.outs]
        total = None
        for pool, src, out, g in zip(self.pools, self.ins, self.outs,
                                     torch.split(top[0].tdiff.reshape(n, -1), sizes, 1)):
            out.tdiff = g.reshape(out.shape)
            pool.backward([out], [True], [src])
            total = src.tdiff if total is None else total + src.tdiff
        bottom[0].tdiff = total
