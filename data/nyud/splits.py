"""Write NYUDv2's split lists for NYUDSegDataLayer: train, val, trainval, test (<nyud_dir>/<split>.txt).

Ids are Gupta et al.'s image numbers, 5001-6449 (img_5001.png is the first of
NYU's 1,449 labeled images). The standard split is 795 training and 654 test
images; FCN trains on 'trainval', Gupta et al.'s train (381) + val (414), which
is exactly the 795, and tests on 'test'. Sources, by --mat:

- Gupta et al.'s benchmarkData/metadata/nyusplits.mat: train, val, test
  (and trainval) as image numbers 5001-6449;
- NYU's splits.mat: trainNdxs, testNdxs, 1-based indices into the 1,449
  labeled images (id = 5000 + index); gives trainval and test only.

Without --mat, trainval.txt is made from train.txt + val.txt already in the
NYUD directory (the lists distributed with FCN's copy of the data).
"""
import argparse
import os
import sys

import numpy as np
import scipy.io

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from fcn import datasets  # noqa: E402

EXPECTED = {'trainval': 795, 'test': 654}
FIRST_ID = 5000  # NYU's labeled image k is Gupta et al.'s img_(5000 + k)


def from_mat(path):
    """The splits in a nyusplits.mat or splits.mat, as lists of id strings."""
    mat = scipy.io.loadmat(path)

    def ids(key, offset=0):
        return [str(int(i) + offset) for i in np.asarray(mat[key]).ravel()]

    if 'trainNdxs' in mat and 'testNdxs' in mat:
        return {'trainval': ids('trainNdxs', FIRST_ID), 'test': ids('testNdxs', FIRST_ID)}
    splits = {k: ids(k) for k in ('train', 'val', 'trainval', 'test') if k in mat}
    if 'train' in splits and 'val' in splits:
        splits['trainval'] = splits['train'] + splits['val']
    if 'trainval' not in splits or 'test' not in splits:
        raise datasets.DataError('%s has neither trainNdxs/testNdxs (NYU) nor train, val, test (Gupta et al.); '
                                 'variables: %s' % (path, ', '.join(k for k in mat if not k.startswith('__'))))
    return splits


def from_lists(nyud):
    """trainval = train + val from the text lists in ``nyud``."""
    splits = {}
    for split in ('train', 'val', 'test'):
        path = os.path.join(nyud, split + '.txt')
        if not os.path.isfile(path):
            raise datasets.DataError('%s not found: give --mat (see %s)'
                                     % (path, os.path.join(os.path.dirname(__file__), 'README.md')))
        splits[split] = datasets.read_ids(path)
    splits['trainval'] = splits['train'] + splits['val']
    return splits


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--nyud-dir', default='nyud',
                        help='NYUD directory; relative paths start at the data root (default %(default)s)')
    parser.add_argument('--mat', help="nyusplits.mat (Gupta et al.) or splits.mat (NYU)")
    args = parser.parse_args(argv)
    nyud = datasets.resolve(args.nyud_dir)
    splits = from_mat(args.mat) if args.mat else from_lists(nyud)
    for split, ids in splits.items():
        with open(os.path.join(nyud, split + '.txt'), 'w') as f:
            f.writelines(i + '\n' for i in ids)
        print('wrote %d ids to %s' % (len(ids), os.path.join(nyud, split + '.txt')))
    for split, n in EXPECTED.items():
        if len(splits[split]) != n:
            print('warning: %s has %d images, the standard NYUDv2 split has %d' % (split, len(splits[split]), n),
                  file=sys.stderr)
    return splits


if __name__ == '__main__':
    main()
