"""FCN heads (score the trunk's output, fuse skips, upsample to the input and crop),
and the FCN-VGG16 net they complete.

Names follow the released nets: ``score_fr``, ``upscore`` (32s); ``upscore2``,
``score_pool4``, ``score_pool4c``, ``fuse_pool4``, ``upscore16`` (16s);
``upscore_pool4``, ``score_pool3``, ``score_pool3c``, ``fuse_pool3``, ``upscore8`` (8s);
``score`` for the cropped output, each with the head's ``suffix``.
"""
from torchcaffe.coord_map import crop
from torchcaffe.net_spec import layers as L, params as P

from . import alexnet, googlenet, vgg
from .blocks import FIXED, class_targets, dropout, score, seg_loss, sigmoid_loss, upsample

# At-once training scales the skips so they start on par with the coarse scores.
AT_ONCE_SCALES = {'pool4': 0.01, 'pool3': 0.0001}
LOSSES = ('softmax', 'sigmoid', 'null')


def _skip(n, coarse, pool, nclass, suffix, scale):
    """Add the scores of ``pool``, cropped to ``coarse``, to ``coarse``; return the sum."""
    bottom = n[pool]
    if scale is not None:
        n['scale_' + pool] = bottom = L.Scale(
            bottom, filler=dict(type='constant', value=scale), param=FIXED)
    name = pool + suffix
    n['score_' + name] = score(bottom, nclass)
    n['score_%sc' % name] = crop(n['score_' + name], coarse)
    n['fuse_' + name] = L.Eltwise(coarse, n['score_%sc' % name], operation=P.Eltwise.SUM)
    return n['fuse_' + name]


def head(n, top, data, nclass, stride=32, suffix='', at_once=False, kernel=None):
    """Add an FCN-``stride``s head on ``top`` scoring ``nclass`` classes; return ``score``.

    The output is cropped to ``data``. 16s fuses pool4, 8s pool3 too; ``at_once``
    scales them (AT_ONCE_SCALES). ``kernel`` overrides the 32x upsampling's 64.
    """
    if stride not in (32, 16, 8):
        raise ValueError('FCN stride must be 32, 16 or 8, not %r' % stride)
    scales = AT_ONCE_SCALES if at_once else {}
    s = suffix
    n['score_fr' + s] = coarse = score(top, nclass)
    if stride == 32:
        n['upscore' + s] = final = upsample(coarse, nclass, kernel or 64, 32)
    else:
        n['upscore2' + s] = coarse = upsample(coarse, nclass, 4, 2)
        fused = _skip(n, coarse, 'pool4', nclass, s, scales.get('pool4'))
        if stride == 16:
            n['upscore16' + s] = final = upsample(fused, nclass, 32, 16)
        else:
            n['upscore_pool4' + s] = coarse = upsample(fused, nclass, 4, 2)
            fused = _skip(n, coarse, 'pool3', nclass, s, scales.get('pool3'))
            n['upscore8' + s] = final = upsample(fused, nclass, 16, 8)
    n['score' + s] = crop(final, data)
    return n['score' + s]


def null_background(n, scores):
    """``score``: a constant zero for class 0, the background, then the foreground ``scores``.

    The zero is a 1x1 convolution whose weights are zero and never learn (lr_mult 0),
    so inference takes the background wherever every foreground score is negative.
    """
    n.score_bg = L.Convolution(scores, num_output=1, kernel_size=1, bias_term=False,
                               weight_filler=dict(type='constant', value=0),
                               param=[dict(lr_mult=0, decay_mult=0)])
    n.score = L.Concat(n.score_bg, scores)
    return n.score


def vgg16_fcn(n, nclass, stride=32, at_once=False, deploy=False, loss='softmax', class_weights=None,
              normalize=False):
    """The FCN-VGG16 net on tops ``data`` (and ``label``) of ``n``: trunk, head, loss.

    ``deploy`` leaves out dropout and the loss. ``loss`` (paper, sections 4.4 and 6.1):
    'softmax' (FCN's, optionally with ``class_weights``), 'sigmoid' (sigmoid
    cross-entropy, each class scored independently), or 'null' (the null background
    model: the head scores the foreground classes, ``score_fg``, with a sigmoid loss;
    the background's score is a constant zero). ``normalize``: the softmax loss averaged
    over the pixels instead of summed.
    """
    if loss not in LOSSES:
        raise ValueError('loss must be one of %s, not %r' % (', '.join(LOSSES), loss))
    if class_weights is not None and (loss != 'softmax' or len(class_weights) != nclass):
        raise ValueError('class_weights: one per class (%d) of the softmax loss' % nclass)
    top = vgg.trunk(n, n.data, dropout_ratio=None if deploy else 0.5)
    if loss == 'null':
        null_background(n, head(n, top, n.data, nclass - 1, stride, '_fg', at_once))
    else:
        head(n, top, n.data, nclass, stride, at_once=at_once)
    if not deploy:
        n.loss = _loss(n, nclass, loss, class_weights, normalize)
    return n.to_proto()


def alexnet_fcn(n, nclass, deploy=False, normalize=True):
    """FCN-AlexNet on tops ``data`` (and ``label``) of ``n``: CaffeNet trunk, 32x upsampling
    by a 63-tap kernel, the loss averaged over the pixels (by default, as released)."""
    top = alexnet.trunk(n, n.data, dropout_ratio=None if deploy else 0.5)
    return _single_stream(n, top, nclass, deploy, 63, normalize)


def googlenet_fcn(n, nclass, deploy=False, normalize=False):
    """FCN-GoogLeNet (paper, Table 1) on tops ``data`` (and ``label``) of ``n``: BVLC
    GoogLeNet's trunk and final head, without the auxiliary heads, the final average
    pooling and the classifier.

    What stays of the final head is its dropout (ratio 0.4, left out of deploy), under
    its classifier name, before ``score_fr`` as ``drop7`` is in FCN-VGG16. The first
    convolution keeps the classifier's pad: without fully connected layers the output
    covers the input anyway. With a 64-tap upsampling kernel the crop offset would be
    half a pixel for any pad, so the kernel has 63 taps (offset 1), as in FCN-AlexNet.
    """
    top = googlenet.features(n, n.data)
    if not deploy:
        name, ratio = googlenet.DROPOUT
        n[name] = top = dropout(top, ratio)
    return _single_stream(n, top, nclass, deploy, 63, normalize)


def _single_stream(n, top, nclass, deploy, kernel, normalize):
    """Score ``top``, upsample 32x with ``kernel`` and crop; add the loss unless deploying."""
    head(n, top, n.data, nclass, 32, kernel=kernel)
    if not deploy:
        n.loss = seg_loss(n.score, n.label, normalize)
    return n.to_proto()


def msra_trunk(net):
    """Give ``net``'s trunk convolutions MSRA fillers, for training without ILSVRC weights:
    Caffe's default, constant zero, never learns. Score layers keep FCN's zero init."""
    for layer in net.layer:
        if layer.type == 'Convolution' and not layer.name.startswith('score'):
            layer.convolution_param.weight_filler.type = 'msra'
    return net


def _loss(n, nclass, loss, class_weights, normalize):
    """The loss of ``vgg16_fcn`` on ``n.label``."""
    if loss == 'softmax':
        return seg_loss(n.score, n.label, normalize, class_weights=class_weights)
    n.targets = class_targets(n.label, nclass, null_background=loss == 'null')
    return sigmoid_loss(n.score_fg if loss == 'null' else n.score, n.targets)
