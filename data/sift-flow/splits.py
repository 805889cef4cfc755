"""Write SIFT Flow's split lists for SIFTFlowSegDataLayer: <siftflow_dir>/trainval.txt and test.txt.

The standard split holds out 200 of the 2,688 images for test. Give the test
images as a list (--test-list), one per line, as names (coast_natu975) or
paths (Images/.../coast_natu975.jpg); trainval is every other image. Images
whose semantic labels are all void (unannotated) are left out of both, as in
FCN's lists.
"""
import argparse
import glob
import os
import sys

import numpy as np
import scipy.io

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from fcn import datasets  # noqa: E402

EXPECTED_TEST = 200


def name(line):
    """coast_natu975 from a name or a path (either slash) with or without .jpg."""
    return os.path.splitext(line.replace('\\', '/').rsplit('/', 1)[-1])[0]


def unannotated(root, ids):
    """The ids whose semantic label map is all 0 (void)."""
    sub = os.path.join(root, 'SemanticLabels', datasets.SIFTFlow.subdir)
    return [i for i in ids if not np.any(scipy.io.loadmat(os.path.join(sub, i + '.mat'))['S'])]


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--siftflow-dir', default='sift-flow',
                        help='SIFT Flow directory; relative paths start at the data root (default %(default)s)')
    parser.add_argument('--test-list', required=True, help='the test images, one per line')
    args = parser.parse_args(argv)
    root = datasets.resolve(args.siftflow_dir)
    image_dir = os.path.join(root, 'Images', datasets.SIFTFlow.subdir)
    images = sorted(name(p) for p in glob.glob(os.path.join(image_dir, '*.jpg')))
    if not images:
        raise datasets.DataError('no images in %s (see %s)'
                                     % (image_dir, os.path.join(os.path.dirname(__file__), 'README.md')))
    test = [name(line) for line in datasets.read_ids(args.test_list)]
    missing = sorted(set(test) - set(images))
    if missing:
        raise datasets.DataError('test images not in %s: %s' % (root, ', '.join(missing[:5])))
    skip = set(unannotated(root, images))
    held_out = set(test) | skip
    splits = {'trainval': [i for i in images if i not in held_out],
              'test': [i for i in test if i not in skip]}
    for split, ids in splits.items():
        with open(os.path.join(root, split + '.txt'), 'w') as f:
            f.writelines(i + '\n' for i in ids)
        print('wrote %d ids to %s' % (len(ids), os.path.join(root, split + '.txt')))
    if skip:
        print('left out unannotated images: %s' % ', '.join(sorted(skip)))
    if len(test) != EXPECTED_TEST:
        print('warning: %d test images, the standard split has %d' % (len(test), EXPECTED_TEST), file=sys.stderr)
    return splits


if __name__ == '__main__':
    main()
