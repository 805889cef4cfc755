#!/usr/bin/env python
"""What the torch engine adds to each layer it runs, on small nets where it would show.

One pass of a net is recorded at torch's dispatcher: every operator the engine calls,
with its arguments. The engine's pass is then timed against a plain loop that calls
those operators again on the same arguments, each result kept until the next pass
replaces it as the engine's blobs keep theirs, so the same kernels run on memory used
the same way without the engine around them; the difference, per layer, is the
engine's overhead (its Python: blob bookkeeping, reshapes, checks). The loop is also
timed freeing each result at once, which keeps memory in cache: on nets that compute
something, what that saves is the cost of holding a pass's blobs, not of Python. The
loop must reproduce the net's output, or the script fails.

Nets: a stack of --depth 1x1 Convolution + in-place ReLU pairs on a 1 x 4 x 4 x 4
input (next to no arithmetic: overhead only), and the FCN-8s topology at narrow widths
(scripts/soak.py's: VGG16's / 16) on a --size x --size image. Each is timed forward,
and forward + backward through a loss (EuclideanLoss, SoftmaxWithLoss). Times are
medians of --repeats runs of --passes passes after warm-up, on one thread so the
figures do not depend on the machine's core count.

    python scripts/overhead.py             # CPU; a Markdown report on stdout
    python scripts/overhead.py --gpu 0     # CUDA (every pass synchronized)
"""
import argparse
import os
import statistics
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch.utils._python_dispatch import TorchDispatchMode  # noqa: E402

import torchcaffe as caffe  # noqa: E402
from nets import fcn, vgg  # noqa: E402
from torchcaffe import layers as L  # noqa: E402


class Recorder(TorchDispatchMode):
    """Keeps every operator call that reaches the dispatcher, with its arguments."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        self.calls.append((func, args, kwargs))
        return func(*args, **kwargs)


def load(n):
    """A TRAIN-phase engine Net from NetSpec ``n``, its inputs filled at random."""
    net = caffe.Net(n.to_proto(), caffe.TRAIN)
    rng = np.random.RandomState(0)
    net.blobs['data'].data[...] = rng.uniform(-1, 1, net.blobs['data'].data.shape)
    if 'label' in net.blobs:
        net.blobs['label'].data[...] = rng.randint(0, 21, net.blobs['label'].data.shape)
    return net


def stack(depth, train):
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 4, 4, 4]))
    x = n.data
    for i in range(depth):
        n['conv%d' % i] = L.Convolution(x, num_output=4, kernel_size=1,
                                        weight_filler=dict(type='gaussian', std=0.5),
                                        bias_filler=dict(type='gaussian', std=0.1))
        x = n['relu%d' % i] = L.ReLU(n['conv%d' % i], in_place=True)
    if train:
        n.loss = L.EuclideanLoss(x, n.data)
    return load(n)


def narrow_fcn8s(size, train):
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, size, size]))
    fcn.head(n, vgg.trunk(n, n.data, **vgg.NARROW), n.data, 21, stride=8)
    if train:
        n.label = L.Input(shape=dict(dim=[1, 1, size, size]))
        n.loss = L.SoftmaxWithLoss(n.score, n.label, loss_param=dict(normalize=False))
    return load(n)


def engine_pass(net, train):
    def run():
        net.forward()
        if train:
            net.backward()
    return run


def replay(calls, keep=False):
    """A pass of the recorded operators alone; returns the last one's result. With
    ``keep``, each result lives until the next pass makes its successor, as a blob's
    contents do in the engine; without, it is freed once the next operator has run,
    so its memory, still in cache, serves the operators after it."""
    kept = [None] * len(calls)

    def run():
        for i, (func, args, kwargs) in enumerate(calls):
            out = func(*args, **kwargs)
            if keep:
                kept[i] = out
        return out
    return run


def record(net, train):
    """The operators of one engine pass; fails unless replaying its forward part
    reproduces the net's output."""
    run = engine_pass(net, train)
    run()  # first-pass allocations and conversions are not what every pass does
    with Recorder() as forward:
        net.forward()
    output = net.outputs[0]
    expected = net.blobs[output].data.copy()
    got = replay(forward.calls)()
    got = got.detach().float().cpu().numpy() if isinstance(got, torch.Tensor) else None
    if got is None or got.shape != expected.shape or not np.allclose(got, expected, rtol=1e-5, atol=1e-6):
        sys.exit("replaying the forward's operators does not give the engine's '%s'" % output)
    if not train:
        return forward.calls
    with Recorder() as both:
        run()
    return both.calls


def median_pass_times(runs, passes, repeats, sync):
    """For each of ``runs``, the median over ``repeats`` of the mean time of ``passes``
    calls, in seconds; the runs take turns, so drift on a noisy machine hits all alike."""
    for run in runs:
        for _ in range(max(2, passes // 10)):
            run()
    sync()
    times = [[] for _ in runs]
    for _ in range(repeats):
        for run, each in zip(runs, times):
            t = time.perf_counter()
            for _ in range(passes):
                run()
            sync()
            each.append((time.perf_counter() - t) / passes)
    return [statistics.median(each) for each in times]


def row(name, make, train, args, sync):
    net = make(train)
    calls = record(net, train)
    ours, kept, freed = median_pass_times([engine_pass(net, train), replay(calls, keep=True), replay(calls)],
                                          args.passes, args.repeats, sync)
    layers = len(net.layers)
    return [name, 'forward + backward' if train else 'forward', '%d' % layers, '%d' % len(calls),
            '%.3f' % (ours * 1e3), '%.3f' % (kept * 1e3), '%.3f' % (freed * 1e3),
            '%.1f' % ((ours - kept) / layers * 1e6), '%.1f%%' % (100 * (ours - kept) / ours)]


def table(header, rows):
    lines = ['| ' + ' | '.join(header) + ' |', '|' + '---|' * len(header)]
    return '\n'.join(lines + ['| ' + ' | '.join(r) + ' |' for r in rows])


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--depth', type=int, default=50, help='Convolution + ReLU pairs in the stack')
    p.add_argument('--size', type=int, default=64, help='image height and width for the narrow FCN-8s')
    p.add_argument('--passes', type=int, default=50, help='passes per timed run')
    p.add_argument('--repeats', type=int, default=9, help='timed runs (the median is reported)')
    p.add_argument('--gpu', type=int, default=None, help='CUDA device id (default: CPU)')
    args = p.parse_args(argv)
    torch.set_num_threads(1)
    if args.gpu is None:
        caffe.set_mode_cpu()
        dev, sync = 'cpu', lambda: None
    else:
        caffe.set_mode_gpu()
        caffe.set_device(args.gpu)
        dev, sync = torch.cuda.get_device_name(args.gpu), torch.cuda.synchronize
    nets = [('stack of %d Convolution + ReLU' % args.depth, lambda train: stack(args.depth, train)),
            ('narrow FCN-8s, %d x %d' % (args.size, args.size), lambda train: narrow_fcn8s(args.size, train))]
    print('torch %s on %s, 1 thread; medians of %d runs of %d passes\n'
          % (torch.__version__, dev, args.repeats, args.passes))
    print(table(['net', 'pass', 'layers', 'operators', 'engine ms', 'operators alone ms',
                 'operators alone, results freed ms', 'overhead us per layer', 'overhead share'],
                [row(name, make, train, args, sync) for name, make in nets for train in (False, True)]))


if __name__ == '__main__':
    main()
