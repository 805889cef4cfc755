"""Small layer groups the FCN nets are made of."""
from torchcaffe.net_spec import layers as L, params as P

# Weights learn at the base rate with decay; biases twice as fast without decay.
LEARNED = [dict(lr_mult=1, decay_mult=1), dict(lr_mult=2, decay_mult=0)]
# Upsampling filters stay as initialized (bilinear, by surgery).
FIXED = [dict(lr_mult=0)]
LOSS_MODULE = 'fcn.losses'  # the Python loss layers


def conv_relu(bottom, nout, ks=3, stride=1, pad=1, **extra):
    """A convolution and its in-place ReLU (both tops)."""
    conv = L.Convolution(bottom, kernel_size=ks, stride=stride, num_output=nout, pad=pad,
                         **extra)
    return conv, L.ReLU(conv, in_place=True)


def max_pool(bottom, ks=2, stride=2):
    return L.Pooling(bottom, pool=P.Pooling.MAX, kernel_size=ks, stride=stride)


def dropout(bottom, ratio=0.5):
    return L.Dropout(bottom, dropout_ratio=ratio, in_place=True)


def score(bottom, nout):
    """A 1x1 convolution scoring each class."""
    return L.Convolution(bottom, num_output=nout, kernel_size=1, pad=0, param=LEARNED)


def upsample(bottom, nout, ks, stride):
    """A fixed (not learned) deconvolution upsampling by ``stride``."""
    return L.Deconvolution(bottom, convolution_param=dict(
        num_output=nout, kernel_size=ks, stride=stride, bias_term=False), param=FIXED)


def seg_loss(score_top, label, normalize=False, class_weights=None):
    """Per-pixel softmax loss; ``normalize: false`` sums over pixels (FCN's heavy learning).

    ``class_weights`` (one per class) weight each pixel's term by its true class.
    Caffe's SoftmaxWithLoss has no class weights, so that loss is the Python layer
    losses.WeightedSoftmaxLoss, which runs in both engines.
    """
    if class_weights is None:
        return L.SoftmaxWithLoss(score_top, label,
                                 loss_param=dict(normalize=normalize, ignore_label=255))
    params = dict(weights=tuple(float(w) for w in class_weights), ignore_label=255, normalize=normalize)
    return L.Python(score_top, label, module=LOSS_MODULE, layer='WeightedSoftmaxLoss',
                    param_str=repr(params), loss_weight=1)  # a Python layer is a loss only by its weight


def class_targets(label, nclass, null_background=False):
    """One-hot targets of ``label`` for a sigmoid loss (losses.ClassTargets); void stays 255.

    ``null_background`` gives class 0 no channel: the targets are those of classes 1 and up.
    """
    params = dict(num_classes=nclass, null_background=null_background)
    return L.Python(label, module=LOSS_MODULE, layer='ClassTargets', param_str=repr(params))


def sigmoid_loss(score_top, targets):
    """Per-pixel sigmoid cross-entropy, each class scored on its own, summed like ``seg_loss``."""
    return L.SigmoidCrossEntropyLoss(score_top, targets,
                                     loss_param=dict(normalize=False, ignore_label=255))
