"""Net surgery: move weights between nets, make upsampling bilinear, grow score layers.

As a command, it makes the fully convolutional ILSVRC classifier every FCN starts from:

    python surgery.py ilsvrc-to-fcn --arch vgg16 \\
        --weights VGG_ILSVRC_16_layers.caffemodel --out vgg16-fcn.caffemodel

The classifier (from nets.classifiers) is loaded with the released weights (old V1
files are upgraded on reading), its fully convolutional twin is built, the weights
are transplanted (inner products become convolutions by a flat copy), and the twin
is saved. The twin keeps the classifier's layer names, fc8 included, so the FCN
solve scripts load it by name; their score layers are new and start from zero.
"""
import argparse
import os
import sys
import tempfile

import numpy as np

from fcn import backend


class TransplantReport:
    """What ``transplant`` did, in the source net's order.

    ``entries``: (kind, source layer, target layer, blob index, detail) with kind
    'copied' or 'coerced' (detail: source and target shapes) or 'dropped' (detail:
    why; index None for a whole layer). ``untouched``: target layers that received
    nothing (new layers keep their initialization).
    """

    def __init__(self):
        self.entries, self.untouched = [], []

    def layers(self, kind):
        """The (source layer, blob index) pairs of ``kind``."""
        return [(src, i) for k, src, _, i, _ in self.entries if k == kind]

    def __str__(self):
        counts = ', '.join('%d %s' % (len(self.layers(kind)), kind)
                           for kind in ('copied', 'coerced', 'dropped'))
        lines = ['transplant: %s, %d untouched' % (counts, len(self.untouched))]
        for kind, src, dst, i, detail in self.entries:
            name = src if i is None else '%s[%d]' % (src, i)
            if dst != src:
                name += ' -> ' + dst
            if kind == 'copied':
                detail = str(detail[1])
            elif kind == 'coerced':
                detail = '%s -> %s' % detail
            lines.append('  %-9s %-24s %s' % (kind, name, detail))
        lines += ['  %-9s %-24s %s' % ('untouched', layer, 'not in the source, left as initialized')
                  for layer in self.untouched]
        return '\n'.join(lines)


def transplant(new_net, net, suffix=''):
    """Copy the params of ``net`` into the layers of ``new_net`` named the same plus ``suffix``.

    Params of a different shape but the same number of values are coerced by a flat
    copy: an inner product's O x I weights fill a convolution's O x C x H x W with
    I = C * H * W, which is how a classifier becomes fully convolutional. Layers (or
    extra blobs) the new net lacks are dropped. Different numbers of values are an
    error. Prints and returns a TransplantReport.
    """
    report = TransplantReport()
    for layer, blobs in net.params.items():
        target = layer + suffix
        if target not in new_net.params:
            report.entries.append(('dropped', layer, target, None, 'no such layer in the new net'))
            continue
        new_blobs = new_net.params[target]
        for i, blob in enumerate(blobs):
            if i >= len(new_blobs):
                report.entries.append(('dropped', layer, target, i,
                                       'the new layer has %d blobs' % len(new_blobs)))
                continue
            old, new = blob.data, new_blobs[i].data
            if old.size != new.size:
                raise ValueError('transplant: %s [%d] of shape %s (%d values) does not fit %s [%d] '
                                 'of shape %s (%d values)' % (layer, i, old.shape, old.size,
                                                              target, i, new.shape, new.size))
            new[...] = old.reshape(new.shape)
            kind = 'copied' if old.shape == new.shape else 'coerced'
            report.entries.append((kind, layer, target, i, (old.shape, new.shape)))
    sources = {layer + suffix for layer in net.params}
    report.untouched = [layer for layer in new_net.params if layer not in sources]
    print(report)
    return report


def upsample_filt(size):
    """The size x size bilinear interpolation kernel (float64), Caffe's ``bilinear`` filler."""
    factor = (size + 1) // 2
    center = factor - 1 if size % 2 == 1 else factor - 0.5
    ramp = 1 - abs(np.arange(size) - center) / factor
    return ramp[:, None] * ramp[None, :]


def interp(net, layers):
    """Make each deconvolution of ``layers`` bilinear upsampling, channel by channel.

    A C x C x k x k weight gets the k x k bilinear kernel on its diagonal (input c
    to output c); a C x 1 x k x k weight (group C) gets it on every filter. As in
    the original, only those kernels are written: the off-diagonal ones keep their
    values, zero from Caffe's default filler. Kernels must be square.
    """
    for layer in layers:
        weights = net.params[layer][0].data
        if weights.ndim != 4:
            raise ValueError("interp: layer '%s' has weights of shape %s, not a 4-d kernel"
                             % (layer, weights.shape))
        m, k, h, w = weights.shape
        if m != k and k != 1:
            raise ValueError("interp: layer '%s' maps %d to %d channels; bilinear upsampling "
                             'needs as many outputs as inputs (or one per group)' % (layer, m, k))
        if h != w:
            raise ValueError("interp: layer '%s' has a %dx%d kernel; it must be square"
                             % (layer, h, w))
        weights[range(m), range(k) if k == m else 0] = upsample_filt(h)


def expand_score(new_net, new_layer, net, layer):
    """Copy score layer ``layer`` of ``net`` (k classes) into the first k of ``new_layer``."""
    old, new = net.params[layer], new_net.params[new_layer]
    k = old[0].data.shape[0]
    if old[0].data.shape[1:] != new[0].data.shape[1:] or k > new[0].data.shape[0]:
        raise ValueError('expand_score: %s weights %s do not fit into %s weights %s'
                         % (layer, old[0].data.shape, new_layer, new[0].data.shape))
    for old_blob, new_blob in zip(old, new):
        new_blob.data[:k] = old_blob.data


# --arch: the function of nets/classifiers.py that builds the classifier or its twin
ARCHS = {'vgg16': 'vgg16', 'caffenet': 'caffenet', 'googlenet': 'bvlc_googlenet'}


class SurgeryError(Exception):
    """Weights that cannot make the net asked for: missing, or not the classifier named."""


def ilsvrc_to_fcn(caffe, classifier, twin, weights, out, what='the classifier'):
    """Load ``weights`` into prototxt ``classifier``, transplant into ``twin``, save to ``out``.

    Raises SurgeryError when the weights are missing or are not ``what``.
    """
    if not os.path.isfile(weights):
        raise SurgeryError('no weights file %s (download %s)' % (weights, what))
    try:
        net = caffe.Net(classifier, weights, caffe.TEST)
    except Exception as e:  # the engine names the file and the layer that did not fit
        raise SurgeryError('%s does not hold %s: %s' % (weights, what, e)) from e
    # Caffe loads by name and skips what the file lacks, leaving zero weights behind.
    missing = [layer for layer, blobs in net.params.items() if not np.any(blobs[0].data)]
    if missing:
        raise SurgeryError('%s does not hold %s: no weights for %s' % (weights, what, ', '.join(missing)))
    new_net = caffe.Net(twin, caffe.TEST)
    transplant(new_net, net)
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    new_net.save(out)
    print('saved %s' % out)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    commands = parser.add_subparsers(dest='command', required=True)
    make = commands.add_parser(
        'ilsvrc-to-fcn', help='make the fully convolutional twin of an ILSVRC classifier',
        description='Transplant a released ILSVRC classifier into its fully convolutional '
                    'twin, or any classifier prototxt into a twin prototxt.')
    source = make.add_mutually_exclusive_group(required=True)
    source.add_argument('--arch', choices=sorted(ARCHS), help='a classifier of nets/classifiers.py')
    source.add_argument('--classifier', help='classifier prototxt (with --twin) instead of --arch')
    make.add_argument('--twin', help='fully convolutional prototxt with the same layer names')
    make.add_argument('--weights', required=True, help='the classifier caffemodel')
    make.add_argument('--out', required=True, help='where to save the twin, e.g. vgg16-fcn.caffemodel')
    backend.add_argument(make)
    args = parser.parse_args(argv)
    if bool(args.classifier) != bool(args.twin):
        parser.error('--classifier and --twin go together')
    try:
        if args.classifier:
            return ilsvrc_to_fcn(backend.load(args.backend), args.classifier, args.twin, args.weights,
                                 args.out)
        # nets/ writes prototxts with torchcaffe's NetSpec. Its protobuf schema must be
        # registered before BVLC pycaffe's: the other order is refused (duplicate caffe.proto).
        from nets import classifiers, write_prototxts
        build = getattr(classifiers, ARCHS[args.arch])
        with tempfile.TemporaryDirectory() as tmp:
            write_prototxts(tmp, {'classifier': build(fully_conv=False), 'twin': build(fully_conv=True)})
            ilsvrc_to_fcn(backend.load(args.backend), os.path.join(tmp, 'classifier.prototxt'),
                          os.path.join(tmp, 'twin.prototxt'), args.weights, args.out,
                          'the ILSVRC %s classifier' % args.arch)
    except SurgeryError as e:
        sys.exit('ilsvrc-to-fcn: %s' % e)


if __name__ == '__main__':
    main()
