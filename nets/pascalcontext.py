"""PASCAL-Context: 59 classes and background on VOC2010 images; train and val splits."""
from torchcaffe.net_spec import NetSpec
from fcn.datasets import CONTEXT_MEAN as MEAN

from . import fcn
from .data import input_data, python_data

CLASSES = 60  # the 59 most frequent classes and background
DEPLOY_SHAPE = (1, 3, 500, 500)


def inputs(n, split):
    """Add tops ``data`` and ``label`` of ``split``, or only ``data`` for 'deploy'."""
    if split == 'deploy':
        input_data(n, {'data': DEPLOY_SHAPE})
    else:
        python_data(n, 'PASCALContextSegDataLayer', ('data', 'label'),
                    voc_dir='pascal/VOC2010', context_dir='pascal-context', split=split,
                    mean=MEAN, seed=1337)


def fcn_vgg16(split, stride=32, loss='softmax', class_weights=None):
    """FCN-32s, 16s or 8s (``stride``) on VGG16; ``loss`` and ``class_weights``: see fcn.vgg16_fcn."""
    n = NetSpec()
    inputs(n, split)
    return fcn.vgg16_fcn(n, CLASSES, stride, deploy=split == 'deploy', loss=loss,
                         class_weights=class_weights)
