"""The ILSVRC classifiers FCNs start from, and their fully convolutional twins.

A twin has the classifier's layer names with its inner products as convolutions of
matching weight counts, so classifier weights transplant into it by name and flat
copy; the VGG16 twin's weights are what every FCN-VGG16 (32s) solve starts from.
"""
from torchcaffe.net_spec import NetSpec, layers as L, params as P

from . import alexnet, googlenet, vgg
from .blocks import LEARNED
from .data import input_data

CLASSES = 1000


def _classify(n, top, name, fully_conv):
    """The last layer, ``name``, scoring the classes, and ``prob``."""
    if fully_conv:
        n[name] = L.Convolution(top, num_output=CLASSES, kernel_size=1, pad=0, param=LEARNED)
    else:
        n[name] = L.InnerProduct(top, num_output=CLASSES, param=LEARNED)
    n.prob = L.Softmax(n[name])
    return n.to_proto()


def vgg16(fully_conv=False, shape=(1, 3, 224, 224)):
    """VGG16 (ILSVRC 2014, 16 layers)."""
    n = NetSpec()
    input_data(n, {'data': shape})
    top = vgg.features(n, n.data, pad=1)
    top = vgg.fully_connected(n, top, as_conv=fully_conv)
    return _classify(n, top, 'fc8', fully_conv)


def caffenet(fully_conv=False, shape=(1, 3, 227, 227)):
    """CaffeNet (bvlc_reference_caffenet)."""
    n = NetSpec()
    input_data(n, {'data': shape})
    top = alexnet.features(n, n.data, pad=0)
    top = alexnet.fully_connected(n, top, as_conv=fully_conv)
    return _classify(n, top, 'fc8', fully_conv)


def bvlc_googlenet(fully_conv=False, shape=(1, 3, 224, 224)):
    """BVLC GoogLeNet, main classifier only (the auxiliary ones serve training)."""
    n = NetSpec()
    input_data(n, {'data': shape})
    top = googlenet.features(n, n.data)
    n['pool5/7x7_s1'] = L.Pooling(top, pool=P.Pooling.AVE, kernel_size=7, stride=1)
    name, ratio = googlenet.DROPOUT
    n[name] = L.Dropout(n['pool5/7x7_s1'], dropout_ratio=ratio, in_place=True)
    return _classify(n, n[name], 'loss3/classifier', fully_conv)
