"""Our builds of the golden net cases (tests/golden/README.md, B. Net cases).

They were made with pycaffe's NetSpec like the released net.py files, with Input
layers, tiny widths (conv stages 2/4/4/8/8 of 2 convolutions, fc 8) and 3 classes.
"""
import os

import torchcaffe as caffe
from torchcaffe import layers as L, params as P

from nets import alexnet, fcn, vgg
from nets.blocks import score, seg_loss, upsample

GOLDEN = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), 'golden')
TINY = dict(widths=(2, 4, 4, 8, 8), depths=(2,) * 5, fc=8)


def tiny_vgg_seg(shape, stride, at_once=False):
    """A tiny FCN like the golden net cases: Input layers, VGG trunk, head, loss."""
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=list(shape)))
    n.label = L.Input(shape=dict(dim=[shape[0], 1] + list(shape[2:])))
    top = vgg.trunk(n, n.data, **TINY)
    fcn.head(n, top, n.data, 3, stride, at_once=at_once)
    n.loss = seg_loss(n.score, n.label)
    return n.to_proto()


def tiny_siftflow(shape):
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=list(shape)))
    for label in ('sem', 'geo'):
        n[label] = L.Input(shape=dict(dim=[shape[0], 1] + list(shape[2:])))
    top = vgg.trunk(n, n.data, **TINY)
    for suffix, label, nclass, loss in (('_sem', 'sem', 6, 'loss'), ('_geo', 'geo', 3, 'loss_geo')):
        n[loss] = seg_loss(fcn.head(n, top, n.data, nclass, 16, suffix), n[label])
    return n.to_proto()


def tiny_late_fusion(shape):
    n = caffe.NetSpec()
    n.color = L.Input(shape=dict(dim=list(shape)))
    n.hha = L.Input(shape=dict(dim=list(shape)))
    n.label = L.Input(shape=dict(dim=[shape[0], 1] + list(shape[2:])))
    for stream in ('color', 'hha'):
        n['score_fr' + stream] = score(vgg.trunk(n, n[stream], suffix=stream, **TINY), 3)
    n.score_fused = L.Eltwise(n.score_frcolor, n.score_frhha, operation=P.Eltwise.SUM,
                              coeff=[0.5, 0.5])
    n.upscore = upsample(n.score_fused, 3, 64, 32)
    n.score = caffe.coord_map.crop(n.upscore, n.color)
    n.loss = seg_loss(n.score, n.label)
    return n.to_proto()


def tiny_alexnet(shape):
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=list(shape)))
    n.label = L.Input(shape=dict(dim=[shape[0], 1] + list(shape[2:])))
    top = alexnet.trunk(n, n.data, widths=(8, 8, 12, 12, 8), fc=8)
    fcn.head(n, top, n.data, 3, 32, kernel=63)
    n.loss = seg_loss(n.score, n.label, normalize=True)
    return n.to_proto()


GOLDEN_NETS = {
    'tiny_fcn32s': lambda shape: tiny_vgg_seg(shape, 32),
    'tiny_fcn16s': lambda shape: tiny_vgg_seg(shape, 16),
    'tiny_fcn8s': lambda shape: tiny_vgg_seg(shape, 8),
    'tiny_fcn8s_atonce': lambda shape: tiny_vgg_seg(shape, 8, at_once=True),
    'tiny_siftflow_fcn16s': tiny_siftflow,
    'tiny_nyud_late_fusion': tiny_late_fusion,
    'tiny_alexnet_fcn': tiny_alexnet,
}
GOLDEN_CASES = sorted(d for d in os.listdir(GOLDEN)
                      if d.rsplit('_', 1)[0] in GOLDEN_NETS)


def build_golden(case):
    """Our build of a golden net case, named like it."""
    arch, size = case.rsplit('_', 1)
    height, width = map(int, size.split('x'))
    net = GOLDEN_NETS[arch]((1, 3, height, width))
    net.name = case
    return net
