"""BVLC GoogLeNet (Szegedy et al.) without its auxiliary classifiers."""
from torchcaffe.net_spec import layers as L, params as P

from .blocks import LEARNED

# Output channels of each inception module's branches:
# 1x1, 3x3 reduce, 3x3, 5x5 reduce, 5x5, pool projection.
INCEPTION = (
    ('3a', (64, 96, 128, 16, 32, 32)),
    ('3b', (128, 128, 192, 32, 96, 64)),
    ('4a', (192, 96, 208, 16, 48, 64)),
    ('4b', (160, 112, 224, 24, 64, 64)),
    ('4c', (128, 128, 256, 24, 64, 64)),
    ('4d', (112, 144, 288, 32, 64, 64)),
    ('4e', (256, 160, 320, 32, 128, 128)),
    ('5a', (256, 160, 320, 32, 128, 128)),
    ('5b', (384, 192, 384, 48, 128, 128)),
)
# Max pooling (k3 s2) after these modules halves the resolution between stages.
POOL_AFTER = {'3b': 'pool3/3x3_s2', '4e': 'pool4/3x3_s2'}
DROPOUT = ('pool5/drop_7x7_s1', 0.4)  # the final head's dropout, before its classifier


def _conv(n, name, relu, bottom, nout, ks=1, stride=1, pad=0):
    """A convolution named ``name`` and its in-place ReLU named ``relu``; return the top."""
    conv = L.Convolution(bottom, num_output=nout, kernel_size=ks, stride=stride, pad=pad,
                         param=LEARNED)
    n[name], n[relu] = conv, L.ReLU(conv, in_place=True)
    return n[relu]


def _pool(bottom, ks, stride, **pad):
    return L.Pooling(bottom, pool=P.Pooling.MAX, kernel_size=ks, stride=stride, **pad)


def _inception(n, module, bottom, widths):
    """One inception module: four branches concatenated along channels."""
    w1, w3r, w3, w5r, w5, wp = widths
    pre = 'inception_%s/' % module
    b1 = _conv(n, pre + '1x1', pre + 'relu_1x1', bottom, w1)
    b3 = _conv(n, pre + '3x3_reduce', pre + 'relu_3x3_reduce', bottom, w3r)
    b3 = _conv(n, pre + '3x3', pre + 'relu_3x3', b3, w3, ks=3, pad=1)
    b5 = _conv(n, pre + '5x5_reduce', pre + 'relu_5x5_reduce', bottom, w5r)
    b5 = _conv(n, pre + '5x5', pre + 'relu_5x5', b5, w5, ks=5, pad=2)
    n[pre + 'pool'] = _pool(bottom, 3, 1, pad=1)
    bp = _conv(n, pre + 'pool_proj', pre + 'relu_pool_proj', n[pre + 'pool'], wp)
    n[pre + 'output'] = L.Concat(b1, b3, b5, bp)
    return n[pre + 'output']


def features(n, data, pad=3):
    """Add conv1/7x7_s2 ... inception_5b/output to NetSpec ``n``; return the last top.

    ``pad`` of the first convolution is 3 in the classifier; an FCN pads more so that
    its output covers the input.
    """
    top = _conv(n, 'conv1/7x7_s2', 'conv1/relu_7x7', data, 64, ks=7, stride=2, pad=pad)
    n['pool1/3x3_s2'] = _pool(top, 3, 2)
    n['pool1/norm1'] = L.LRN(n['pool1/3x3_s2'], local_size=5, alpha=1e-4, beta=0.75)
    top = _conv(n, 'conv2/3x3_reduce', 'conv2/relu_3x3_reduce', n['pool1/norm1'], 64)
    top = _conv(n, 'conv2/3x3', 'conv2/relu_3x3', top, 192, ks=3, pad=1)
    n['conv2/norm2'] = L.LRN(top, local_size=5, alpha=1e-4, beta=0.75)
    n['pool2/3x3_s2'] = top = _pool(n['conv2/norm2'], 3, 2)
    for module, widths in INCEPTION:
        top = _inception(n, module, top, widths)
        if module in POOL_AFTER:
            n[POOL_AFTER[module]] = top = _pool(top, 3, 2)
    return top
