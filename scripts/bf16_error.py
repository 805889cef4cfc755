"""bf16's forward error against float32, for each experiment's deploy net.

    python scripts/bf16_error.py [--size 500] [--nets voc-fcn8s ...] [--out FILE]

Each net gets random weights (He-scaled, as bench fills them) and a random image, and
runs once in float32 and once in bf16, both in the engine's default layout. The table
gives the score blob's normalized error (max |bf16 - fp32| / max |fp32|) and the share
of pixels whose predicted class (argmax over the scores) is the same.
"""
import argparse
import glob
import os
import sys
import time

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, REPO)

import torchcaffe as caffe  # noqa: E402
from torchcaffe.formats import read_net  # noqa: E402
from fcn import bench  # noqa: E402


def experiments():
    return sorted(os.path.basename(os.path.dirname(p)) for p in glob.glob(os.path.join(REPO, '*', 'deploy.prototxt')))


def scores(net, precision):
    """The net's output blob after a forward in ``precision``."""
    caffe.set_precision(precision)
    try:
        return net.forward()[net.outputs[0]].copy()
    finally:
        caffe.set_precision('fp32')


def compare(name, size):
    """(normalized error, argmax agreement, fp32 seconds, bf16 seconds) of one net."""
    param = bench.sized_net(read_net(os.path.join(REPO, name, 'deploy.prototxt')), size, False)
    net = caffe.Net(param, caffe.TEST)
    bench.fill_random(net)
    rng = np.random.RandomState(1)
    for blob in net.inputs:
        net.blobs[blob].data[...] = rng.uniform(-120, 120, net.blobs[blob].data.shape)
    t = time.perf_counter()
    fp32 = scores(net, 'fp32')
    t_fp32 = time.perf_counter() - t
    t = time.perf_counter()
    bf16 = scores(net, 'bf16')
    t_bf16 = time.perf_counter() - t
    err = np.abs(bf16 - fp32).max() / max(np.abs(fp32).max(), 1e-30)
    agree = (bf16.argmax(1) == fp32.argmax(1)).mean()
    return err, agree, t_fp32, t_bf16


def table(rows, size):
    lines = ['bf16 forward against float32, %dx%d random image, random weights' % (size, size), '',
             '| net | score error (max abs / max) | same class, pixels |', '|---|---|---|']
    lines += ['| %s | %.2g | %.2f%% |' % (name, err, 100 * agree) for name, err, agree in rows]
    return '\n'.join(lines) + '\n'


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument('--nets', nargs='+', default=experiments(), choices=experiments())
    p.add_argument('--size', type=int, default=500)
    p.add_argument('--out', help='also write the table (markdown) here')
    args = p.parse_args(argv)
    rows = []
    for name in args.nets:
        err, agree, t_fp32, t_bf16 = compare(name, args.size)
        print('%s: error %.2g, same class %.2f%% (fp32 %.2f s, bf16 %.2f s)'
              % (name, err, 100 * agree, t_fp32, t_bf16), flush=True)
        rows.append((name, err, agree))
    text = table(rows, args.size)
    print(text)
    if args.out:
        with open(args.out, 'w') as f:
            f.write(text)


if __name__ == '__main__':
    main()
