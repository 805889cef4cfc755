"""Momentum and batch size (paper, section 6.2), and Table 2's regimes as solver presets.

SGD with momentum p, batch size k and rate eta takes the step
g_t = -eta sum_{i<k} grad l(x_{kt+i}) + p g_{t-1}; unrolled, each example's gradient
enters with weight eta p^floor(j/k), j counting the examples seen since. Dropping
the floor, (p, k) and (p', k') weigh the past alike when p^(1/k) = p'^(1/k'), at
the same eta per example: p' = p^(k'/k). It is not exact: smaller batches update
more often. Momentum 0.9 at batch 20 is about 0.9^(1/20) = 0.9947 at batch 1,
the 0.99 of FCN's "heavy" learning.

Table 2 (FCN-32s, every regime on the same sequence of images; FCN's data layers
give one image per pass, so the batch is Caffe's ``iter_size``):

    accum   iter_size 20   momentum 0.9    loss normalized per pixel
    online  iter_size 1    momentum 0.9    loss summed over pixels
    heavy   iter_size 1    momentum 0.99   loss summed over pixels (the released solvers)

A preset keeps eta per pixel: Caffe averages the ``iter_size`` passes and a
normalized loss divides by the image's P labelled pixels, so the rate on one
pixel's gradient is base_lr / (iter_size P), P = 1 when the loss is summed; thus
base_lr' = base_lr (k'/k) (P'/P), P a typical image's pixel count (only images of
that size convert exactly). Iteration counts (max_iter, snapshot, steps) scale by
k/k' so that every regime sees the same images.

    python momentum.py --momentum 0.9 --batch 20 --to-batch 1
    python momentum.py --experiment voc-fcn32s --regime accum --out presets/voc-fcn32s-accum
"""
import argparse
import math
import os
import sys
from collections import namedtuple

from torchcaffe.formats import prototxt, read_net, read_solver
from torchcaffe.proto import caffe_pb2

Regime = namedtuple('Regime', 'iter_size momentum normalize')
REGIMES = {'accum': Regime(20, 0.9, True), 'online': Regime(1, 0.9, False), 'heavy': Regime(1, 0.99, False)}
# Typical labelled pixels of an image, per dataset (experiment name prefix).
PIXELS = {'voc': 500 * 375, 'pascalcontext': 500 * 375, 'nyud': 425 * 560, 'siftflow': 256 * 256}
Loss = caffe_pb2.LossParameter
# Losses whose loss_param normalizes, and what they do when it says nothing (Caffe's defaults).
LOSS_DEFAULTS = {'SoftmaxWithLoss': Loss.VALID, 'SigmoidCrossEntropyLoss': Loss.BATCH_SIZE}


def equivalent_momentum(p, k, k2):
    """The momentum at batch size ``k2`` equivalent to ``p`` at ``k``: p^(k2/k)."""
    return p ** (k2 / k)


def equivalent_batch(p, k, p2):
    """The batch size at momentum ``p2`` equivalent to ``p`` at ``k``: k log p2 / log p."""
    return k * math.log(p2) / math.log(p)


def per_pixel(layer):
    """Whether a loss layer divides by its pixel count (VALID or FULL normalization)."""
    loss = layer.loss_param
    if loss.HasField('normalization'):
        mode = loss.normalization
    elif loss.HasField('normalize'):
        mode = Loss.VALID if loss.normalize else Loss.BATCH_SIZE
    else:
        mode = LOSS_DEFAULTS[layer.type]
    return mode in (Loss.VALID, Loss.FULL)


def losses(net):
    """The loss layers of NetParameter ``net`` that normalize; ValueError if none."""
    found = [layer for layer in net.layer if layer.type in LOSS_DEFAULTS]
    if not found:
        raise ValueError('the train net has no %s layer' % ' or '.join(LOSS_DEFAULTS))
    return found


def rescale(iters, k, k2):
    """Iterations at batch ``k2`` that see as many images as ``iters`` at batch ``k``."""
    return max(1, math.ceil(iters * k / k2))


def preset(solver, normalized, regime, pixels):
    """SolverParameter ``solver`` (its loss ``normalized`` per pixel or not) turned into ``regime``."""
    r = REGIMES[regime]
    k = solver.iter_size
    out = caffe_pb2.SolverParameter()
    out.CopyFrom(solver)
    out.iter_size, out.momentum = r.iter_size, r.momentum
    out.base_lr = solver.base_lr * r.iter_size / k * (pixels if r.normalize else 1) / (pixels if normalized else 1)
    out.max_iter = rescale(solver.max_iter, k, r.iter_size)
    if solver.snapshot:
        out.snapshot = rescale(solver.snapshot, k, r.iter_size)
    if solver.HasField('stepsize'):
        out.stepsize = rescale(solver.stepsize, k, r.iter_size)
    out.stepvalue[:] = [rescale(v, k, r.iter_size) for v in solver.stepvalue]
    return out


def write_preset(experiment, regime, out, pixels=None):
    """Write ``out``/solver.prototxt (and train.prototxt with the regime's loss) for ``experiment``.

    Paths in the files are absolute, so Caffe runs them from anywhere. Returns the solver.
    """
    experiment = os.path.abspath(experiment)
    name = os.path.basename(experiment)
    pixels = pixels or PIXELS.get(name.split('-')[0])
    if not pixels:
        raise ValueError('no typical image size known for %s: give the pixel count' % name)
    solver = read_solver(os.path.join(experiment, 'solver.prototxt'))
    train = read_net(os.path.join(experiment, solver.train_net))
    normalized = {per_pixel(layer) for layer in losses(train)}
    if len(normalized) > 1:
        raise ValueError('%s mixes normalized and summed losses' % name)
    new = preset(solver, normalized.pop(), regime, pixels)
    for layer in losses(train):
        layer.loss_param.ClearField('normalization')
        layer.loss_param.normalize = REGIMES[regime].normalize
    os.makedirs(out, exist_ok=True)
    out = os.path.abspath(out)
    new.train_net = os.path.join(out, 'train.prototxt')
    new.test_net[:] = [os.path.join(experiment, path) for path in solver.test_net]
    new.snapshot_prefix = os.path.join(out, 'snapshot', 'train')
    prototxt.write(new.train_net, train)
    prototxt.write(os.path.join(out, 'solver.prototxt'), new)
    return new


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    convert = parser.add_argument_group('convert (p, k) to an equivalent momentum or batch size')
    convert.add_argument('--momentum', type=float)
    convert.add_argument('--batch', type=float)
    target = convert.add_mutually_exclusive_group()
    target.add_argument('--to-batch', type=float)
    target.add_argument('--to-momentum', type=float)
    make = parser.add_argument_group("write a Table 2 preset of an experiment's solver")
    make.add_argument('--experiment', help='experiment directory, e.g. voc-fcn32s')
    make.add_argument('--regime', choices=sorted(REGIMES))
    make.add_argument('--out', help='directory for solver.prototxt and train.prototxt')
    make.add_argument('--pixels', type=int, help="a typical image's labelled pixels "
                      "(default by dataset: %s)" % ', '.join('%s %d' % kv for kv in PIXELS.items()))
    args = parser.parse_args(argv)
    if args.experiment:
        if not (args.regime and args.out):
            parser.error('--experiment needs --regime and --out')
        try:
            solver = write_preset(args.experiment, args.regime, args.out, args.pixels)
        except (ValueError, FileNotFoundError) as e:
            sys.exit('momentum: %s' % e)
        print('%s: iter_size %d, momentum %g, base_lr %g, max_iter %d -> %s'
              % (args.regime, solver.iter_size, solver.momentum, solver.base_lr, solver.max_iter,
                 os.path.join(args.out, 'solver.prototxt')))
        return
    if args.momentum is None or args.batch is None or (args.to_batch is None and args.to_momentum is None):
        parser.error('give --momentum, --batch and --to-batch or --to-momentum (or --experiment)')
    momenta = [args.momentum] + ([args.to_momentum] if args.to_momentum is not None else [])
    batches = [args.batch] + ([args.to_batch] if args.to_batch is not None else [])
    if not all(0 < p < 1 for p in momenta) or min(batches) <= 0:
        parser.error('momenta must lie in (0, 1) and batch sizes be positive')
    if args.to_batch is not None:
        p2, k2 = equivalent_momentum(args.momentum, args.batch, args.to_batch), args.to_batch
    else:
        p2, k2 = args.to_momentum, equivalent_batch(args.momentum, args.batch, args.to_momentum)
    print('momentum %g at batch %g ~ momentum %.6g at batch %.6g (p^(1/k) = %.6g)'
          % (args.momentum, args.batch, p2, k2, args.momentum ** (1 / args.batch)))


if __name__ == '__main__':
    main()
