"""Write seg11valid: PASCAL VOC 2011 segmentation val minus SBD train.

FCN validates on this set because VOC 2011 val intersects SBD train, which it
trains on. With the real VOC 2011 (val: 1,111 images) and SBD (train: 8,498)
it has 736 images (the paper's footnote); a warning says when it does not.
The list goes to <voc_dir>/ImageSets/Segmentation/seg11valid.txt, where
VOCSegDataLayer reads split 'seg11valid'.
"""
import argparse
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from fcn import datasets  # noqa: E402

EXPECTED = 736


def seg11valid(voc_val, sbd_train):
    """The VOC val ids that are not in SBD train, in VOC's order."""
    train = set(sbd_train)
    return [i for i in voc_val if i not in train]


def read(path):
    if not os.path.isfile(path):
        raise datasets.DataError('split file %s not found (see %s)' % (path, os.path.abspath(__file__)))
    return datasets.read_ids(path)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--voc-dir', default='pascal/VOC2011',
                        help='VOC 2011 directory; relative paths start at the data root (default %(default)s)')
    parser.add_argument('--sbdd-dir', default='sbdd/dataset', help='SBD dataset directory (default %(default)s)')
    args = parser.parse_args(argv)
    sets = os.path.join(datasets.resolve(args.voc_dir), 'ImageSets', 'Segmentation')
    ids = seg11valid(read(os.path.join(sets, 'val.txt')),
                     read(os.path.join(datasets.resolve(args.sbdd_dir), 'train.txt')))
    out = os.path.join(sets, 'seg11valid.txt')
    with open(out, 'w') as f:
        f.writelines(i + '\n' for i in ids)
    print('wrote %d ids to %s' % (len(ids), out))
    if len(ids) != EXPECTED:
        print('warning: seg11valid has %d images, the paper\'s has %d: are these VOC 2011 and SBD\'s release?'
              % (len(ids), EXPECTED), file=sys.stderr)
    return ids


if __name__ == '__main__':
    main()
