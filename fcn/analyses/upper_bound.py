"""Upper bounds on mean IU for predictions at a given stride (paper, section 6.3).

The paper downsamples the ground truth and upsamples it back "to compute the best
mean IU possible with the corresponding upsampling filter". An FCN at stride f
scores each f x f cell and upsamples the scores bilinearly, so here each factor f:

1. pools the ground truth into f x f cells, keeping each class's share of the
   cell's labelled pixels (void left out): the scores a perfect stride-f net could
   give. This is mode pooling kept soft: the argmax of a cell is its mode, and the
   shares let the upsampling place boundaries between cells as the net's would.
2. upsamples the shares bilinearly, between cell centres (f i + (f - 1) / 2), as
   FCN's 2f-tap bilinear deconvolution does inside the image (held constant past
   the outer centres), and takes the argmax;
3. scores that against the original ground truth (score.metrics, void ignored).

Factor 1 gives the ground truth back (mean IU 1).

    python upper_bound.py --dataset voc --data-root data --split seg11valid \\
        --factors 128 64 32 16 8 4
"""
import argparse
import os

import numpy as np

from fcn import score
from fcn import datasets

# --dataset: (reader from data root and split, label top, classes, default split)
DATASETS = {
    'voc': (lambda root, split: datasets.VOC(os.path.join(root, 'pascal', 'VOC2011'), split),
            'label', 21, 'seg11valid'),
    'nyud': (lambda root, split: datasets.NYUD(os.path.join(root, 'nyud'), split), 'label', 40, 'test'),
    'siftflow': (lambda root, split: datasets.SIFTFlow(os.path.join(root, 'sift-flow'), split),
                 'sem', 33, 'test'),
    'context': (lambda root, split: datasets.PASCALContext(
        os.path.join(root, 'pascal-context'), os.path.join(root, 'pascal', 'VOC2010'), split),
        'label', 60, 'val'),
}
FACTORS = (128, 64, 32, 16, 8, 4)


def downsample(label, factor, n):
    """Shares of the ``n`` classes among the labelled pixels of each ``factor`` x ``factor`` cell."""
    h, w = label.shape
    rows, cols = -(-h // factor), -(-w // factor)
    cell = (np.arange(h) // factor)[:, None] * cols + np.arange(w) // factor
    keep = label < n
    counts = np.bincount(cell[keep] * n + label[keep], minlength=rows * cols * n)
    counts = counts.reshape(rows, cols, n).astype(np.float64)
    return counts / np.maximum(counts.sum(2, keepdims=True), 1)


def _interp(values, factor, size, axis):
    """Linear interpolation along ``axis`` from cell centres to ``size`` pixels."""
    cells = values.shape[axis]
    t = np.clip((np.arange(size) - (factor - 1) / 2) / factor, 0, cells - 1)
    lo = np.floor(t).astype(np.int64)
    hi = np.minimum(lo + 1, cells - 1)
    shape = [1] * values.ndim
    shape[axis] = size
    w = (t - lo).reshape(shape)
    return np.take(values, lo, axis) * (1 - w) + np.take(values, hi, axis) * w


def upsample(shares, factor, shape):
    """Bilinear upsampling of cell ``shares`` (rows x cols x n) to ``shape``; the argmax labels."""
    full = _interp(_interp(shares, factor, shape[0], 0), factor, shape[1], 1)
    return full.argmax(2)


def upper_bounds(labels, n, factors=FACTORS):
    """[(factor, score.metrics of the down- and upsampled ``labels``)] for each factor."""
    hists = {f: np.zeros((n, n), np.int64) for f in factors}
    for label in labels:
        for f in factors:
            hists[f] += score.fast_hist(label, upsample(downsample(label, f, n), f, label.shape), n)
    return [(f, score.metrics(hists[f])) for f in factors]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    parser.add_argument('--dataset', choices=sorted(DATASETS), required=True)
    parser.add_argument('--data-root', required=True, help='datasets directory (as FCN_DATA_ROOT)')
    parser.add_argument('--split', help='default: the split the experiments score '
                        '(voc seg11valid, nyud and siftflow test, context val)')
    parser.add_argument('--factors', type=int, nargs='+', default=FACTORS)
    args = parser.parse_args(argv)
    if min(args.factors) < 1:
        parser.error('factors must be positive')
    reader, top, n, split = DATASETS[args.dataset]
    dataset = reader(os.path.abspath(args.data_root), args.split or split)
    labels = (dataset.load(id_, [top])[0][0] for id_ in dataset.ids)
    print('upper bounds on %s %s (%d images)' % (args.dataset, args.split or split, len(dataset.ids)))
    print('factor  mean IU  pixel acc')
    for f, m in upper_bounds(labels, n, args.factors):
        print('%6d  %7.1f  %9.1f' % (f, 100 * m['mean_iu'], 100 * m['overall_acc']))


if __name__ == '__main__':
    main()
