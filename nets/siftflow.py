"""SIFT Flow: semantic (33 classes) and geometric (3 classes) labels, one net, two heads."""
from torchcaffe.net_spec import NetSpec
from fcn.datasets import SIFTFLOW_MEAN as MEAN

from . import fcn, vgg
from .blocks import seg_loss
from .data import input_data, python_data

DEPLOY_SHAPE = (1, 3, 256, 256)  # SIFT Flow images are 256x256
# Heads: name suffix, label top, classes, loss. The semantic loss is plain 'loss'.
HEADS = (('_sem', 'sem', 33, 'loss'), ('_geo', 'geo', 3, 'loss_geo'))


def inputs(n, split):
    """Add tops ``data``, ``sem`` and ``geo`` of ``split``, or only ``data`` for 'deploy'."""
    if split == 'deploy':
        input_data(n, {'data': DEPLOY_SHAPE})
    else:
        python_data(n, 'SIFTFlowSegDataLayer', ('data', 'sem', 'geo'), siftflow_dir='sift-flow',
                    split=split, mean=MEAN, seed=1337)


def fcn_vgg16(split, stride=32):
    """FCN-32s, 16s or 8s (``stride``) on VGG16 with a head (and loss) per label kind."""
    n = NetSpec()
    inputs(n, split)
    deploy = split == 'deploy'
    top = vgg.trunk(n, n.data, dropout_ratio=None if deploy else 0.5)
    for suffix, label, nclass, loss in HEADS:
        scores = fcn.head(n, top, n.data, nclass, stride, suffix)
        if not deploy:
            n[loss] = seg_loss(scores, n[label])
    return n.to_proto()
