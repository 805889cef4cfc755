"""Convert SBD's .mat labels to palette PNGs beside them (cls/<id>.png, inst/<id>.png), for viewing.

The data layers read the .mat files; this is only for looking at the labels.
Colours are PASCAL VOC's palette, so class PNGs look like VOC's SegmentationClass.
"""
import argparse
import glob
import os
import sys

import scipy.io

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from fcn import datasets  # noqa: E402


def convert(mat_path, kind):
    """Write the PNG of one .mat of ``kind`` ('cls' or 'inst'); return its path."""
    segmentation = scipy.io.loadmat(mat_path)['GT' + kind]['Segmentation'][0, 0]
    png = mat_path[:-4] + '.png'
    datasets.save_label_png(segmentation, png)
    return png


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--sbdd-dir', default='sbdd/dataset',
                        help='SBD dataset directory; relative paths start at the data root (default %(default)s)')
    parser.add_argument('--kind', nargs='+', choices=('cls', 'inst'), default=('cls',),
                        help='which labels to convert (default: cls)')
    args = parser.parse_args(argv)
    root = datasets.resolve(args.sbdd_dir)
    for kind in args.kind:
        paths = sorted(glob.glob(os.path.join(root, kind, '*.mat')))
        if not paths:
            raise datasets.DataError('no .mat files in %s (see %s)'
                                     % (os.path.join(root, kind), os.path.join(os.path.dirname(__file__), 'README.md')))
        for path in paths:
            convert(path, kind)
        print('converted %d %s labels in %s' % (len(paths), kind, os.path.join(root, kind)))


if __name__ == '__main__':
    main()
