#!/usr/bin/env python
"""Train a narrow FCN-8s from scratch on synthetic PASCAL VOC data, score it, segment with it.

    python demo.py [--out DIR] [--backend torch|caffe] [--gpu ID] [--iters N] [--precision bf16]

Writes a synthetic SBD + VOC data root (synthetic.py) and the net's prototxts
(built with nets/ as voc-fcn8s: VGG-style trunk with pad 100, 32s -> 16s -> 8s
skips, computed crops, SoftmaxWithLoss; fewer channels), trains it with
train.py (scoring seg11valid every round; log and charts), and segments val
images with infer.py. Everything lands in the output directory.
"""
import argparse
import os
import sys
import tempfile
import time

from fcn import backend
from fcn import infer
from fcn import synthetic
from fcn import train
from fcn.runlog import Log
from nets import fcn, vgg, voc, write_prototxts
from nets.blocks import seg_loss
from nets.data import PACKAGE_MODULE
from nets.solvers import sgd
from torchcaffe.net_spec import NetSpec

PICTURES, SIZE, CLASSES = 200, (64, 64), 6  # 150 in SBD train, 50 in seg11valid; all six shapes
WIDTHS = (16, 32, 48, 64, 64)  # VGG16's stages: 64, 128, 256, 512, 512 channels
DEPTHS = (1, 1, 2, 2, 2)       # VGG16's: 2, 2, 3, 3, 3 convolutions
FC = 128                       # VGG16's fc6 and fc7: 4096
# Normalized loss (per pixel), so the rate does not depend on the image size.
LR, MOMENTUM = 1e-4, 0.9
ROUNDS = 5                     # score rounds during training
SHOWN = 12                     # val images segmented by infer.py


def narrow_fcn8s(split):
    """voc-fcn8s's net, narrow. Without ImageNet weights the trunk starts from MSRA fillers."""
    n = NetSpec()
    voc.inputs(n, split, module=PACKAGE_MODULE)  # runs without a checkout on sys.path
    top = vgg.trunk(n, n.data, dropout_ratio=None, widths=WIDTHS, depths=DEPTHS, fc=FC)
    fcn.head(n, top, n.data, voc.CLASSES, 8)
    if split != 'deploy':
        n.loss = seg_loss(n.score, n.label, normalize=True)
    return fcn.msra_trunk(n.to_proto())


def output_dir(path):
    """``path`` (created; it must be empty), else a new directory under ./out."""
    if path is None:
        os.makedirs('out', exist_ok=True)
        return tempfile.mkdtemp(prefix=time.strftime('demo-%Y%m%d-%H%M%S-'), dir=os.path.abspath('out'))
    os.makedirs(path, exist_ok=True)
    if os.listdir(path):
        raise FileExistsError('%s is not empty; give a new or empty --out' % path)
    return os.path.abspath(path)


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    p.add_argument('--out', help='output directory, new or empty (default: a new one under ./out)')
    backend.add_argument(p)
    p.add_argument('--gpu', type=int, help='GPU id (default: CPU)')
    p.add_argument('--iters', type=int, default=500, help='training iterations')
    p.add_argument('--seed', type=int, default=0, help='seed of the pictures and the fillers')
    p.add_argument('--precision', choices=['fp32', 'tf32', 'bf16'], default='fp32',
                   help='training precision of the torch backend (see fcn train --help)')
    args = p.parse_args(argv)
    start = time.time()
    try:
        out = output_dir(args.out)
    except FileExistsError as e:
        sys.exit('demo: %s' % e)
    data, net_dir, train_dir = (os.path.join(out, d) for d in ('data', 'net', 'train'))
    print('demo: synthetic PASCAL VOC and SBD in %s' % data, flush=True)
    synthetic.make_sbd(data, PICTURES, SIZE, args.seed, CLASSES)
    voc_dir = synthetic.make_voc(data, PICTURES, SIZE, args.seed, CLASSES)
    os.makedirs(net_dir)
    solver = sgd('train.prototxt', 'val.prototxt', test_iter=1, base_lr=LR, max_iter=args.iters,
                 snapshot=0, momentum=MOMENTUM)
    write_prototxts(net_dir, {'train': narrow_fcn8s('train'), 'val': narrow_fcn8s('seg11valid'),
                              'deploy': narrow_fcn8s('deploy'), 'solver': solver})

    common = ['--backend', args.backend] if args.backend else []
    common += ['--gpu', str(args.gpu)] if args.gpu is not None else []
    train.main(net_dir, [], score_every=max(1, args.iters // ROUNDS), argv=common + [
        '--weights', 'none', '--data-root', data, '--out', train_dir, '--seed', str(args.seed),
        '--display', str(max(1, args.iters // 20)), '--precision', args.precision])

    with open(os.path.join(voc_dir, 'ImageSets', 'Segmentation', 'seg11valid.txt')) as f:
        images = [os.path.join(voc_dir, 'JPEGImages', line.strip() + '.jpg') for line in f][:SHOWN]
    predictions = os.path.join(out, 'predictions')
    infer.main(common + ['--deploy', os.path.join(net_dir, 'deploy.prototxt'), '--out', predictions,
                         '--weights', os.path.join(train_dir, 'train_iter_%d.caffemodel' % args.iters)]
               + images)
    final = [r for r in Log(train_dir).records if 'scores' in r][-1]
    print('\ndemo: %.0f s; mean IU %.3f on seg11valid after %d iterations'
          % (time.time() - start, final['scores']['score']['mean_iu'], final['iter']))
    print('demo: results in %s\n  training log: %s\n  charts: %s\n  predictions and overlays: %s'
          % (out, train_dir, os.path.join(train_dir, 'charts'), predictions))


if __name__ == '__main__':
    main()
