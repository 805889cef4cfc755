"""PASCAL VOC segmentation: train on SBD train, validate on VOC2011 seg11valid; 21 classes."""
from torchcaffe.net_spec import NetSpec
from fcn.datasets import VOC_MEAN as MEAN

from . import alexnet, fcn, googlenet
from .blocks import dropout, seg_loss
from .data import input_data, python_data

CLASSES = 21  # 20 object classes and background
DEPLOY_SHAPE = (1, 3, 500, 500)  # VOC images are at most 500x500
# Data layer class and dataset directory (relative to the data root) per split.
SOURCES = {'train': ('SBDDSegDataLayer', 'sbdd_dir', 'sbdd/dataset'),
           'seg11valid': ('VOCSegDataLayer', 'voc_dir', 'pascal/VOC2011')}


def inputs(n, split):
    """Add tops ``data`` and ``label`` of ``split``, or only ``data`` for 'deploy'."""
    if split == 'deploy':
        input_data(n, {'data': DEPLOY_SHAPE})
        return
    layer, key, directory = SOURCES[split]
    python_data(n, layer, ('data', 'label'),
                **{key: directory, 'split': split, 'mean': MEAN, 'seed': 1337})


def fcn_vgg16(split, stride=32, at_once=False, loss='softmax', class_weights=None):
    """FCN-32s, 16s or 8s (``stride``) on VGG16; ``at_once`` scales the skips.

    ``loss`` and ``class_weights``: see fcn.vgg16_fcn.
    """
    n = NetSpec()
    inputs(n, split)
    return fcn.vgg16_fcn(n, CLASSES, stride, at_once, split == 'deploy', loss, class_weights)


def _single_stream(n, top, split, kernel, normalize=False):
    """Score ``top``, upsample 32x with ``kernel`` and crop; add the loss unless deploying."""
    fcn.head(n, top, n.data, CLASSES, 32, kernel=kernel)
    if split != 'deploy':
        n.loss = seg_loss(n.score, n.label, normalize)
    return n.to_proto()


def fcn_alexnet(split):
    """FCN-AlexNet: CaffeNet trunk, 32x upsampling by a 63-tap kernel, normalized loss."""
    n = NetSpec()
    inputs(n, split)
    top = alexnet.trunk(n, n.data, dropout_ratio=None if split == 'deploy' else 0.5)
    return _single_stream(n, top, split, kernel=63, normalize=True)


def fcn_googlenet(split):
    """FCN-GoogLeNet (paper, Table 1): BVLC GoogLeNet's trunk and final head, without the
    auxiliary heads, the final average pooling and the classifier.

    What stays of the final head is its dropout (ratio 0.4, left out of deploy), under
    its classifier name, before ``score_fr`` as ``drop7`` is in FCN-VGG16. The first
    convolution keeps the classifier's pad: without fully connected layers the output
    covers the input anyway. With a 64-tap upsampling kernel the crop offset would be
    half a pixel for any pad, so the kernel has 63 taps (offset 1), as in FCN-AlexNet.
    """
    n = NetSpec()
    inputs(n, split)
    top = googlenet.features(n, n.data)
    if split != 'deploy':
        name, ratio = googlenet.DROPOUT
        n[name] = top = dropout(top, ratio)
    return _single_stream(n, top, split, kernel=63)
