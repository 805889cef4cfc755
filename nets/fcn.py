"""FCN heads: score the trunk's output, fuse skips, upsample to the input and crop.

Names follow the released nets: ``score_fr``, ``upscore`` (32s); ``upscore2``,
``score_pool4``, ``score_pool4c``, ``fuse_pool4``, ``upscore16`` (16s);
``upscore_pool4``, ``score_pool3``, ``score_pool3c``, ``fuse_pool3``, ``upscore8`` (8s);
``score`` for the cropped output, each with the head's ``suffix``.
"""
from torchcaffe.coord_map import crop
from torchcaffe.net_spec import layers as L, params as P

from . import vgg
from .blocks import FIXED, score, seg_loss, upsample

# At-once training scales the skips so they start on par with the coarse scores.
AT_ONCE_SCALES = {'pool4': 0.01, 'pool3': 0.0001}


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


def vgg16_fcn(n, nclass, stride=32, at_once=False, deploy=False):
    """The FCN-VGG16 net on tops ``data`` (and ``label``) of ``n``: trunk, head, loss.

    ``deploy`` leaves out dropout and the loss.
    """
    top = vgg.trunk(n, n.data, dropout_ratio=None if deploy else 0.5)
    head(n, top, n.data, nclass, stride, at_once=at_once)
    if not deploy:
        n.loss = seg_loss(n.score, n.label)
    return n.to_proto()
