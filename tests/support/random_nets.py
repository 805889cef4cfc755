"""Randomly drawn FCN-style nets for live parity against real Caffe.

Each seed fixes the widths and depths of a VGG-like trunk (pad 100, MAX pools),
the skip topology (32s, 16s, 8s, at-once), the number of classes, the input
size and batch, the loss normalization, the weights, the inputs and the labels.
"""
import random

import numpy as np

import torchcaffe as caffe
from torchcaffe import layers as L

from nets import fcn, vgg
from nets.blocks import seg_loss


def spec(seed):
    """The random choices of net ``seed``."""
    r = random.Random(seed)
    stride = r.choice([32, 16, 8])
    return dict(
        widths=tuple(r.randint(1, 4) for _ in range(5)),
        depths=tuple(r.randint(1, 2) for _ in range(5)),
        fc=r.randint(2, 6),
        stride=stride,
        at_once=stride == 8 and r.random() < 0.5,
        nclass=r.randint(2, 5),
        shape=(r.randint(1, 2), 3, r.randint(17, 70), r.randint(17, 70)),
        normalize=r.random() < 0.5,
    )


def net_param(s):
    """The NetParameter of spec ``s`` (Input layers for data and label)."""
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=list(s['shape'])))
    n.label = L.Input(shape=dict(dim=[s['shape'][0], 1] + list(s['shape'][2:])))
    top = vgg.trunk(n, n.data, dropout_ratio=None, widths=s['widths'], depths=s['depths'], fc=s['fc'])
    fcn.head(n, top, n.data, s['nclass'], s['stride'], at_once=s['at_once'])
    n.loss = seg_loss(n.score, n.label, normalize=s['normalize'])
    return n.to_proto()


def fill(net, seed):
    """He-scaled random weights for every parameter of a torchcaffe net."""
    rng = np.random.RandomState(seed)
    for blobs in net.params.values():
        for b in blobs:
            fan_in = max(1, int(np.prod(b.shape[1:])))
            b.data[...] = rng.randn(*b.shape) * np.sqrt(2.0 / fan_in)


def batch(s, seed, nclass=None):
    """Image and label arrays for spec ``s``; about 10 % of labels are 255."""
    rng = np.random.RandomState(seed)
    n, _, h, w = s['shape']
    data = (rng.rand(*s['shape']) * 255 - 120).astype(np.float32)
    label = rng.randint(0, nclass or s['nclass'], (n, 1, h, w)).astype(np.float32)
    label[rng.rand(*label.shape) < 0.1] = 255
    return data, label


def tie_sensitive(net):
    """Blobs whose diff passes through a MAX pooling backward (ties make them unstable)."""
    producers = {}
    for name, tops in net.top_names.items():
        for t in tops:
            producers.setdefault(t, []).append(name)
    sensitive, stack = set(), [b for name, layer in net.layer_dict.items()
                               if layer.type == 'Pooling' for b in net.bottom_names[name]]
    while stack:
        blob = stack.pop()
        if blob in sensitive:
            continue
        sensitive.add(blob)
        for layer in producers.get(blob, []):
            stack.extend(net.bottom_names[layer])
    return sensitive
