"""PASCAL VOC segmentation: train on SBD train, validate on VOC2011 seg11valid; 21 classes."""
from torchcaffe.net_spec import NetSpec
from fcn.datasets import VOC_MEAN as MEAN

from . import fcn
from .data import DATA_MODULE, input_data, python_data

CLASSES = 21  # 20 object classes and background
DEPLOY_SHAPE = (1, 3, 500, 500)  # VOC images are at most 500x500
# Data layer class and dataset directory (relative to the data root) per split.
SOURCES = {'train': ('SBDDSegDataLayer', 'sbdd_dir', 'sbdd/dataset'),
           'seg11valid': ('VOCSegDataLayer', 'voc_dir', 'pascal/VOC2011')}


def inputs(n, split, module=DATA_MODULE):
    """Add tops ``data`` and ``label`` of ``split``, or only ``data`` for 'deploy', from the
    data layers of ``module``."""
    if split == 'deploy':
        input_data(n, {'data': DEPLOY_SHAPE})
        return
    layer, key, directory = SOURCES[split]
    python_data(n, layer, ('data', 'label'), module=module,
                **{key: directory, 'split': split, 'mean': MEAN, 'seed': 1337})


def fcn_vgg16(split, stride=32, at_once=False, loss='softmax', class_weights=None):
    """FCN-32s, 16s or 8s (``stride``) on VGG16; ``at_once`` scales the skips.

    ``loss`` and ``class_weights``: see fcn.vgg16_fcn.
    """
    n = NetSpec()
    inputs(n, split)
    return fcn.vgg16_fcn(n, CLASSES, stride, at_once, split == 'deploy', loss, class_weights)


def fcn_alexnet(split):
    """FCN-AlexNet (fcn.alexnet_fcn)."""
    n = NetSpec()
    inputs(n, split)
    return fcn.alexnet_fcn(n, CLASSES, split == 'deploy')


def fcn_googlenet(split):
    """FCN-GoogLeNet (fcn.googlenet_fcn)."""
    n = NetSpec()
    inputs(n, split)
    return fcn.googlenet_fcn(n, CLASSES, split == 'deploy')
