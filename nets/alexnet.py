"""CaffeNet, the BVLC reference version of AlexNet (pooling before normalization)."""
from torchcaffe.net_spec import layers as L

from .blocks import conv_relu, dropout, max_pool

WIDTHS = (96, 256, 384, 384, 256)  # channels of conv1-5
FC = 4096                           # channels of fc6 and fc7


def _norm(bottom):
    return L.LRN(bottom, local_size=5, alpha=1e-4, beta=0.75)


def features(n, data, pad=100, widths=WIDTHS):
    """Add conv1 ... pool5 to NetSpec ``n`` on top ``data``; return pool5.

    ``pad`` of conv1 is 100 in the FCN so that the output covers any input size.
    Every convolution states its group and stride, as the released FCN-AlexNet does.
    """
    w1, w2, w3, w4, w5 = widths
    n.conv1, n.relu1 = conv_relu(data, w1, ks=11, stride=4, pad=pad, group=1)
    n.pool1 = max_pool(n.relu1, ks=3, stride=2)
    n.norm1 = _norm(n.pool1)
    n.conv2, n.relu2 = conv_relu(n.norm1, w2, ks=5, pad=2, group=2)
    n.pool2 = max_pool(n.relu2, ks=3, stride=2)
    n.norm2 = _norm(n.pool2)
    n.conv3, n.relu3 = conv_relu(n.norm2, w3, ks=3, pad=1, group=1)
    n.conv4, n.relu4 = conv_relu(n.relu3, w4, ks=3, pad=1, group=2)
    n.conv5, n.relu5 = conv_relu(n.relu4, w5, ks=3, pad=1, group=2)
    n.pool5 = max_pool(n.relu5, ks=3, stride=2)
    return n.pool5


def fully_connected(n, top, dropout_ratio=0.5, fc=FC, as_conv=True):
    """Add fc6 and fc7 (with ReLU and dropout); return the last top.

    ``as_conv`` makes them convolutions (6x6 and 1x1) holding the inner products'
    weights; ``dropout_ratio`` None leaves dropout out.
    """
    for layer, ks in (('6', 6), ('7', 1)):
        if as_conv:
            fc_top, relu = conv_relu(top, fc, ks=ks, pad=0, group=1)
        else:
            fc_top = L.InnerProduct(top, num_output=fc)
            relu = L.ReLU(fc_top, in_place=True)
        n['fc' + layer], n['relu' + layer] = fc_top, relu
        top = relu
        if dropout_ratio is not None:
            n['drop' + layer] = top = dropout(top, dropout_ratio)
    return top


def trunk(n, data, dropout_ratio=0.5, widths=WIDTHS, fc=FC):
    """The FCN trunk: ``features`` (pad 100) and convolutional ``fully_connected``."""
    return fully_connected(n, features(n, data, widths=widths), dropout_ratio, fc)
