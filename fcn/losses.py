"""Python layers for the paper's loss variants; like layers.py, they run on torchcaffe and BVLC pycaffe.

- ``WeightedSoftmaxLoss``: class balancing by loss weights (section 4.4). Caffe's
  SoftmaxWithLoss has no class weights, so this layer is SoftmaxWithLoss (same
  clamping, ignore label and normalization) with each pixel's term multiplied by
  the weight of its true class; all weights 1 give SoftmaxWithLoss exactly.
- ``ClassTargets``: one-hot targets of a label map for Caffe's own
  SigmoidCrossEntropyLoss, which scores each class independently: the "null"
  background model of section 6.1 (the background gets no channel, its score is
  a constant 0) and its control (every class, background included).

``param_str`` is a Python dict literal, read with ``ast.literal_eval``.

Class weights come from a training split's pixel counts:

    python losses.py class-weights voc-fcn32s/train.prototxt --data-root /data

prints inverse-frequency weights (scaled so that the average pixel weighs 1)
for each label top of the net's data layer, ready for the nets' ``class_weights``.
"""
import argparse
import os

import numpy as np

from fcn import backend
from fcn.datasets import VOID
from nets.data import dict_literal

caffe = backend.load()

FLT_MIN = float(np.finfo(np.float32).tiny)  # Caffe clamps probabilities here before the log


def parse(text, layer, keys):
    """The dict literal ``text`` with only ``keys``; nothing is executed."""
    params = dict_literal(text)
    if params is None or set(params) - set(keys):
        raise ValueError('%s param_str must be a dict literal with keys from %s, got %r'
                         % (layer, ', '.join(keys), text))
    return params


class WeightedSoftmaxLoss(caffe.Layer):
    """Bottoms scores (N x C x H x W) and labels (N x 1 x H x W); top the loss.

    param_str: ``weights`` (C numbers, required), ``ignore_label`` (default 255),
    ``normalize`` (default False: divide by N, FCN's summed loss; True: by the
    count of non-ignored pixels). The layer needs ``loss_weight: 1`` in the net.
    """

    def setup(self, bottom, top):
        p = parse(self.param_str, 'WeightedSoftmaxLoss', ('weights', 'ignore_label', 'normalize'))
        if 'weights' not in p:
            raise ValueError('WeightedSoftmaxLoss param_str needs weights (one per class)')
        self.weights = np.asarray(p['weights'], np.float64).reshape(-1)
        self.ignore = p.get('ignore_label', VOID)
        self.normalize = p.get('normalize', False)
        if len(bottom) != 2 or len(top) != 1:
            raise ValueError('WeightedSoftmaxLoss takes scores and labels and gives one loss')

    def reshape(self, bottom, top):
        n, c = bottom[0].data.shape[:2]
        if c != len(self.weights):
            raise ValueError('WeightedSoftmaxLoss has %d weights for %d classes' % (len(self.weights), c))
        if bottom[1].data.size * c != bottom[0].data.size:
            raise ValueError('WeightedSoftmaxLoss: labels %s do not match scores %s'
                             % (bottom[1].data.shape, bottom[0].data.shape))
        top[0].reshape()

    def forward(self, bottom, top):
        x = bottom[0].data.astype(np.float64)
        x = x.reshape(x.shape[0], x.shape[1], -1)
        prob = np.exp(x - x.max(1, keepdims=True))
        prob /= prob.sum(1, keepdims=True)
        label = bottom[1].data.reshape(x.shape[0], -1).astype(np.int64)
        valid = label != self.ignore
        bad = valid & ((label < 0) | (label >= x.shape[1]))
        if bad.any():
            raise ValueError('WeightedSoftmaxLoss: label %d outside [0, %d) and not the ignore label'
                             % (label[bad][0], x.shape[1]))
        label = np.where(valid, label, 0)
        p = np.take_along_axis(prob, label[:, None], 1)[:, 0]
        w = self.weights[label] * valid  # each pixel's weight; 0 where ignored
        self.norm = max(1.0, float(valid.sum()) if self.normalize else float(x.shape[0]))
        top[0].data[...] = -(w * np.log(np.maximum(p, FLT_MIN))).sum() / self.norm
        self.saved = prob, label, w

    def backward(self, top, propagate_down, bottom):
        if not propagate_down[0]:
            return
        prob, label, w = self.saved
        grad = prob.copy()
        np.put_along_axis(grad, label[:, None], np.take_along_axis(grad, label[:, None], 1) - 1, 1)
        grad *= w[:, None] * (float(top[0].diff.reshape(-1)[0]) / self.norm)
        bottom[0].diff[...] = grad.reshape(bottom[0].data.shape)


class ClassTargets(caffe.Layer):
    """Bottom labels (N x 1 x H x W); top one-hot targets (N x K x H x W), void pixels all 255.

    param_str: ``num_classes`` (required), ``null_background`` (default False;
    True leaves class 0 without a channel, so K = num_classes - 1 and a pixel of
    class 0 is a negative for every channel), ``ignore_label`` (default 255).
    """

    def setup(self, bottom, top):
        p = parse(self.param_str, 'ClassTargets', ('num_classes', 'null_background', 'ignore_label'))
        if type(p.get('num_classes')) is not int or p['num_classes'] < 2:
            raise ValueError('ClassTargets param_str needs num_classes, an integer of at least 2')
        self.classes = np.arange(1 if p.get('null_background', False) else 0, p['num_classes'])
        self.ignore = p.get('ignore_label', VOID)

    def reshape(self, bottom, top):
        n, _, h, w = bottom[0].data.shape
        top[0].reshape(n, len(self.classes), h, w)

    def forward(self, bottom, top):
        label = bottom[0].data
        targets = (label == self.classes[None, :, None, None]).astype(np.float32)
        targets[np.broadcast_to(label == self.ignore, targets.shape)] = self.ignore
        top[0].data[...] = targets

    def backward(self, top, propagate_down, bottom):
        pass  # labels take no gradient


def class_weights(counts):
    """Inverse-frequency weights of pixel ``counts`` per class, scaled so that the average pixel weighs 1.

    Classes without pixels weigh 1: no pixel of the split ever uses their weight.
    """
    counts = np.asarray(counts, np.float64)
    present = counts > 0
    weights = np.ones_like(counts)
    weights[present] = counts.sum() / (present.sum() * counts[present])
    return weights


def pixel_counts(reader, top, num_classes):
    """Pixels of each class in label ``top`` over the split of ``reader`` (void left out)."""
    counts = np.zeros(num_classes, np.int64)
    for id_ in reader.ids:
        label, = reader.load(id_, [top])
        counts += np.bincount(label[label != VOID].ravel(), minlength=num_classes)[:num_classes]
    return counts


def data_reader(net_path):
    """The reader of the first Python data layer of the net at ``net_path``."""
    from fcn import layers
    from torchcaffe.formats import read_net
    net = read_net(net_path)
    for layer in net.layer:
        if layer.type == 'Python' and layer.python_param.module == 'layers':
            cls = getattr(layers, layer.python_param.layer)
            params = layers.parse_param_str(layer.python_param.param_str, cls.__name__, cls.dirs)
            return cls.dataset(*[params[k] for k in cls.dirs], split=params['split'])
    raise ValueError('%s has no data layer of layers.py' % net_path)


def main(argv=None):
    parser = argparse.ArgumentParser(description='Class weights (inverse pixel frequency, average pixel 1) '
                                                 'of the split a training net reads.')
    parser.add_argument('command', choices=['class-weights'])
    parser.add_argument('net', help="a net's prototxt, e.g. voc-fcn32s/train.prototxt")
    parser.add_argument('--data-root', help='datasets directory (default: $FCN_DATA_ROOT or data/)')
    args = parser.parse_args(argv)
    if args.data_root:
        os.environ['FCN_DATA_ROOT'] = os.path.abspath(args.data_root)
    reader = data_reader(args.net)
    for top, num_classes in reader.label_classes.items():
        counts = pixel_counts(reader, top, num_classes)
        weights = class_weights(counts)
        print('%s: pixels %s' % (top, counts.tolist()))
        print('%s: class_weights=(%s)' % (top, ', '.join('%.6g' % w for w in weights)))


if __name__ == '__main__':
    main()
