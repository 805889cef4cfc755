#!/usr/bin/env python
"""Soak test: does resident memory stay flat over a long training run?

Trains the full FCN-8s topology (VGG16 trunk with its 13 convolutions, fc6/fc7 as
convolutions with dropout, both skips, crops, fixed deconvolutions) at narrow widths
on synthetic PASCAL VOC through the real data layer (randomized, prefetching), with
Caffe's SGD solver and a snapshot every --snapshot iterations, on the torch engine.
Every --every iterations it samples VmRSS from /proc/self/status; it reports the
growth after --warmup iterations (the largest sample after warm-up minus the sample
at warm-up) and exits with status 1 when that exceeds --max-growth MB.

    python scripts/soak.py                       # 2000 iterations, about a minute and a half on 2 cores
    python scripts/soak.py --iters 300 --warmup 100 --max-growth 20
"""
import argparse
import os
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

import numpy as np  # noqa: E402

from fcn import synthetic  # noqa: E402
import torchcaffe as caffe  # noqa: E402
from nets import fcn, vgg  # noqa: E402
from nets.blocks import seg_loss  # noqa: E402
from torchcaffe import layers as L  # noqa: E402
from torchcaffe.proto import caffe_pb2  # noqa: E402


def rss_mb():
    """Resident set size of this process in MB (VmRSS of /proc/self/status)."""
    with open('/proc/self/status') as f:
        for line in f:
            if line.startswith('VmRSS:'):
                return int(line.split()[1]) / 1024
    raise RuntimeError('no VmRSS in /proc/self/status')


def narrow_fcn8s(voc_dir):
    n = caffe.NetSpec()
    params = {'voc_dir': voc_dir, 'split': 'train', 'seed': 1337, 'prefetch': 1}
    n.data, n.label = L.Python(module='layers', layer='VOCSegDataLayer', ntop=2, param_str=repr(params))
    fcn.head(n, vgg.trunk(n, n.data, **vgg.NARROW), n.data, 21, stride=8)
    n.loss = seg_loss(n.score, n.label)
    return n.to_proto()


def solver_param(net, prefix):
    return caffe_pb2.SolverParameter(
        train_net_param=net, base_lr=1e-6, lr_policy='fixed', momentum=0.9, weight_decay=5e-4,
        random_seed=1, snapshot_prefix=prefix)


def soak(iters, every, warmup, snapshot, size, work):
    """Train; return [(iteration, RSS MB)] sampled every ``every`` iterations."""
    voc = synthetic.make_voc(work, n=32, size=(size, size))
    caffe.set_mode_cpu()
    solver = caffe.get_solver(solver_param(narrow_fcn8s(voc), os.path.join(work, 'soak')))
    samples, start = [(0, rss_mb())], time.time()
    while solver.iter < iters:
        solver.step(1)
        loss = float(solver.net.blobs['loss'].data)
        if not np.isfinite(loss):
            raise SystemExit('iteration %d: loss %s' % (solver.iter, loss))
        if snapshot and solver.iter % snapshot == 0:
            solver.snapshot()
        if solver.iter % every == 0:
            samples.append((solver.iter, rss_mb()))
            print('iter %5d  loss %10.1f  rss %7.1f MB  %.1f it/s'
                  % (solver.iter, loss, samples[-1][1], solver.iter / (time.time() - start)), flush=True)
    return samples


def growth(samples, warmup):
    """(RSS at warm-up, largest RSS after it, growth) in MB."""
    at = [mb for it, mb in samples if it >= warmup]
    return at[0], max(at), max(at) - at[0]


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0],
                                formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    p.add_argument('--iters', type=int, default=2000)
    p.add_argument('--every', type=int, default=50, help='sample RSS every N iterations')
    p.add_argument('--warmup', type=int, default=200, help='iterations before growth counts')
    p.add_argument('--snapshot', type=int, default=500, help='snapshot every N iterations (0: never)')
    p.add_argument('--size', type=int, default=64, help='image height and width')
    p.add_argument('--max-growth', type=float, default=None, help='fail above this growth (MB)')
    args = p.parse_args(argv)
    if args.warmup % args.every or args.warmup >= args.iters:
        p.error('--warmup must be a multiple of --every and below --iters')
    with tempfile.TemporaryDirectory(prefix='fcn-soak-') as work:
        samples = soak(args.iters, args.every, args.warmup, args.snapshot, args.size, work)
    base, peak, grown = growth(samples, args.warmup)
    print('RSS growth after warm-up: %.1f MB (%.1f MB at iteration %d, at most %.1f MB by iteration %d)'
          % (grown, base, args.warmup, peak, args.iters))
    if args.max_growth is not None and grown > args.max_growth:
        sys.exit('RSS grew %.1f MB after warm-up, more than --max-growth %.1f' % (grown, args.max_growth))


if __name__ == '__main__':
    main()
