"""A tiny trainable net and solver files for solver tests (fast: a 2x3x4x5 batch).

``data`` -> ``conv`` (3x3, learned, lr_mult 1/2, decay_mult 1/0) -> ``fixed`` (1x1,
lr_mult 0) -> SoftmaxWithLoss. The data come from ``CountingData``, a Python layer
whose batch changes at every forward, so iter_size passes and test iterations
each see another batch, reproducibly (batch i of a fresh layer is always the same).
"""
import numpy as np

import torchcaffe as caffe

NET = '''name: "tiny"
layer { name: "data" type: "Python" top: "data" top: "label"
        python_param { module: "tinynet" layer: "CountingData" } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
        convolution_param { num_output: 3 kernel_size: 3 pad: 1
          weight_filler { type: "gaussian" std: 0.5 } bias_filler { type: "constant" value: 0.1 } } }
layer { name: "fixed" type: "Convolution" bottom: "conv" top: "score" param { lr_mult: 0 }
        convolution_param { num_output: 3 kernel_size: 1 bias_term: false
          weight_filler { type: "gaussian" std: 0.5 } } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }
'''

SOLVER = {'net': '"net.prototxt"', 'base_lr': 0.01, 'lr_policy': '"fixed"', 'momentum': 0.9,
          'weight_decay': 0.0005, 'max_iter': 100, 'random_seed': 7, 'snapshot_prefix': '"snap"'}


def batch(i):
    """Batch ``i``: data (2,3,4,5) and labels (2,1,4,5) in {0,1,2}."""
    rng = np.random.RandomState(i)
    return rng.randn(2, 3, 4, 5).astype(np.float32), rng.randint(0, 3, (2, 1, 4, 5)).astype(np.float32)


class CountingData(caffe.Layer):
    """Tops data and label: ``batch(n)`` at the n-th forward of this layer."""

    def setup(self, bottom, top):
        self.count = 0

    def reshape(self, bottom, top):
        top[0].reshape(2, 3, 4, 5)
        top[1].reshape(2, 1, 4, 5)

    def forward(self, bottom, top):
        top[0].data[...], top[1].data[...] = batch(self.count)
        self.count += 1


def write(directory, net_text=NET, **fields):
    """Write net.prototxt and solver.prototxt (SOLVER updated by ``fields``; None drops
    a field; values are prototxt text) into ``directory``; return the solver path."""
    (directory / 'net.prototxt').write_text(net_text)
    settings = dict(SOLVER, **fields)
    lines = []
    for key, value in settings.items():
        for v in value if isinstance(value, list) else [value]:
            if v is not None:
                lines.append('%s: %s' % (key, v))
    path = directory / 'solver.prototxt'
    path.write_text('\n'.join(lines) + '\n')
    return str(path)
