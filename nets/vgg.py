"""VGG16 (Simonyan & Zisserman): the convolution stages, then fc6 and fc7."""
from torchcaffe.net_spec import layers as L

from .blocks import LEARNED, conv_relu, dropout, max_pool

WIDTHS = (64, 128, 256, 512, 512)  # channels of conv stages 1-5
DEPTHS = (2, 2, 3, 3, 3)            # convolutions per stage
FC = 4096                           # channels of fc6 and fc7
# widths / 16 and fc / 64: the whole topology at a sliver of the cost (scripts' small nets)
NARROW = dict(widths=(4, 8, 16, 32, 32), fc=64)


def features(n, data, suffix='', first_conv='conv1_1', pad=100, widths=WIDTHS, depths=DEPTHS):
    """Add conv1_1 ... pool5 to NetSpec ``n`` on top ``data``; return pool5.

    Names are VGG's plus ``suffix`` (two streams keep separate weights);
    ``first_conv`` renames conv1_1 (an input of other channels needs other weights);
    ``pad`` of conv1_1 is 100 in FCNs so that the output covers any input size.
    """
    top = data
    for stage, (width, depth) in enumerate(zip(widths, depths), 1):
        for i in range(1, depth + 1):
            name = '%d_%d%s' % (stage, i, suffix)
            first = stage == i == 1
            conv = first_conv + suffix if first else 'conv' + name
            n[conv], n['relu' + name] = conv_relu(top, width, pad=pad if first else 1,
                                                  param=LEARNED)
            top = n['relu' + name]
        n['pool%d%s' % (stage, suffix)] = top = max_pool(top)
    return top


def fully_connected(n, top, suffix='', dropout_ratio=0.5, fc=FC, as_conv=True):
    """Add fc6 and fc7 (with ReLU and dropout); return the last top.

    ``as_conv`` makes them convolutions (7x7 and 1x1) that hold the same weights as
    the classifier's inner products; ``dropout_ratio`` None leaves dropout out.
    """
    for layer, ks in (('6', 7), ('7', 1)):
        if as_conv:
            fc_top, relu = conv_relu(top, fc, ks=ks, pad=0, param=LEARNED)
        else:
            fc_top = L.InnerProduct(top, num_output=fc, param=LEARNED)
            relu = L.ReLU(fc_top, in_place=True)
        n['fc' + layer + suffix], n['relu' + layer + suffix] = fc_top, relu
        top = relu
        if dropout_ratio is not None:
            n['drop' + layer + suffix] = top = dropout(top, dropout_ratio)
    return top


def trunk(n, data, suffix='', first_conv='conv1_1', dropout_ratio=0.5,
          widths=WIDTHS, depths=DEPTHS, fc=FC):
    """The FCN trunk: ``features`` (pad 100) and convolutional ``fully_connected``."""
    top = features(n, data, suffix, first_conv, widths=widths, depths=depths)
    return fully_connected(n, top, suffix, dropout_ratio, fc)
