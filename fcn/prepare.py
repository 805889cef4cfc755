"""Make the split lists and label files the data layers read, from the downloaded datasets.

Each task is a sub-command (fcn prepare TASK --help); data/README.md and
data/<dataset>/README.md say where each download goes. Relative directories
start at the data root: --data-root, else $FCN_DATA_ROOT, else the checkout's
data/.
"""
import argparse
import glob
import inspect
import os
import sys

import numpy as np
import scipy.io

from fcn import datasets
from fcn.score import progress

# PASCAL-Context's 59-class task, 'index: name' a line, 0 background then 1-59 in output order.
CLASSES_59 = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'data', 'classes-59.txt')

SEG11VALID_SIZE = 736  # the paper's footnote
NYUD_SIZES = {'trainval': 795, 'test': 654}
NYUD_FIRST_ID = 5000  # NYU's labeled image k is Gupta et al.'s img_(5000 + k)
SIFTFLOW_TEST_SIZE = 200


def see(dataset):
    """' (see README)' for a datasets.Dataset class, for messages."""
    return ' (see %s)' % os.path.join(datasets.REPO, dataset.readme)


def read_list(path, dataset):
    """The ids of a list file that must exist."""
    if not os.path.isfile(path):
        raise datasets.DataError('%s not found%s' % (path, see(dataset)))
    return datasets.read_ids(path)


def load_mat(path, key=None):
    """A MATLAB file, or its variable ``key``; DataError names the file when it cannot be read."""
    try:
        mat = scipy.io.loadmat(path)
    except Exception as e:  # scipy raises many types on a damaged file
        raise datasets.DataError('cannot read %s: %s' % (path, e)) from e
    if key is None:
        return mat
    if key not in mat:
        raise datasets.DataError('%s has no variable %s' % (path, key))
    return mat[key]


def write_lists(directory, splits):
    """Write each split's ids to <directory>/<split>.txt; return the paths in the splits' order."""
    if not os.path.isdir(directory):  # not created: a mistyped directory should not get the lists
        raise datasets.DataError('directory %s not found' % directory)
    paths = []
    for split, ids in splits.items():
        paths.append(os.path.join(directory, split + '.txt'))
        with open(paths[-1], 'w') as f:
            f.writelines(i + '\n' for i in ids)
    return paths


# -- PASCAL VOC ----------------------------------------------------------
def seg11valid(voc_val, sbd_train):
    """The VOC val ids that are not in SBD train, in VOC's order."""
    train = set(sbd_train)
    return [i for i in voc_val if i not in train]


def seg11valid_split(voc_dir, sbdd_dir):
    """{'seg11valid': ids} from <voc_dir>/ImageSets/Segmentation/val.txt and <sbdd_dir>/train.txt."""
    val = read_list(os.path.join(voc_dir, 'ImageSets', 'Segmentation', 'val.txt'), datasets.VOC)
    return {'seg11valid': seg11valid(val, read_list(os.path.join(sbdd_dir, 'train.txt'), datasets.SBD))}


# -- SBD -----------------------------------------------------------------
def sbdd_png(mat_path, kind):
    """Write the palette PNG of one SBD .mat of ``kind`` ('cls' or 'inst') beside it; return its path."""
    gt = load_mat(mat_path, 'GT' + kind)
    try:
        segmentation = gt['Segmentation'][0, 0]
    except (ValueError, IndexError, TypeError):
        raise datasets.DataError('%s: GT%s has no Segmentation field' % (mat_path, kind)) from None
    png = mat_path[:-4] + '.png'
    datasets.save_label_png(segmentation, png)
    return png


def sbdd_pngs(sbdd_dir, kind, report=None):
    """Convert every <sbdd_dir>/<kind>/*.mat; ``report(done, total)`` after each. Returns the count."""
    paths = sorted(glob.glob(os.path.join(sbdd_dir, kind, '*.mat')))
    if not paths:
        raise datasets.DataError('no .mat files in %s%s' % (os.path.join(sbdd_dir, kind), see(datasets.SBD)))
    for done, path in enumerate(paths, 1):
        sbdd_png(path, kind)
        if report:
            report(done, len(paths))
    return len(paths)


# -- NYUDv2 --------------------------------------------------------------
def nyud_splits_from_mat(path):
    """The splits in Gupta et al.'s nyusplits.mat or NYU's splits.mat, as lists of id strings."""
    mat = load_mat(path)

    def ids(key, offset=0):
        return [str(int(i) + offset) for i in np.asarray(mat[key]).ravel()]

    if 'trainNdxs' in mat and 'testNdxs' in mat:
        return {'trainval': ids('trainNdxs', NYUD_FIRST_ID), 'test': ids('testNdxs', NYUD_FIRST_ID)}
    splits = {k: ids(k) for k in ('train', 'val', 'trainval', 'test') if k in mat}
    if 'train' in splits and 'val' in splits:
        splits['trainval'] = splits['train'] + splits['val']
    if 'trainval' not in splits or 'test' not in splits:
        raise datasets.DataError('%s has neither trainNdxs/testNdxs (NYU) nor train, val, test (Gupta et al.); '
                                 'variables: %s' % (path, ', '.join(k for k in mat if not k.startswith('__'))))
    return splits


def nyud_splits_from_lists(nyud_dir):
    """trainval = train + val from the text lists in ``nyud_dir`` (FCN's copy of the data has them)."""
    splits = {}
    for split in ('train', 'val', 'test'):
        path = os.path.join(nyud_dir, split + '.txt')
        if not os.path.isfile(path):
            raise datasets.DataError('%s not found: give --mat%s' % (path, see(datasets.NYUD)))
        splits[split] = datasets.read_ids(path)
    splits['trainval'] = splits['train'] + splits['val']
    return splits


# -- SIFT Flow -----------------------------------------------------------
def siftflow_name(line):
    """coast_natu975 from a name or a path (either slash) with or without .jpg."""
    return os.path.splitext(line.replace('\\', '/').rsplit('/', 1)[-1])[0]


def siftflow_splits(siftflow_dir, test_names, report=None):
    """(splits, unannotated ids): trainval is every image not in ``test_names``; images whose
    semantic labels are all void are left out of both. ``report(done, total)`` while reading labels."""
    image_dir = os.path.join(siftflow_dir, 'Images', datasets.SIFTFlow.subdir)
    images = sorted(siftflow_name(p) for p in glob.glob(os.path.join(image_dir, '*.jpg')))
    if not images:
        raise datasets.DataError('no images in %s%s' % (image_dir, see(datasets.SIFTFlow)))
    test = [siftflow_name(n) for n in test_names]
    missing = sorted(set(test) - set(images))
    if missing:
        raise datasets.DataError('test images not in %s: %s' % (image_dir, ', '.join(missing[:5])))
    labels = os.path.join(siftflow_dir, 'SemanticLabels', datasets.SIFTFlow.subdir)
    skip = set()
    for done, id_ in enumerate(images, 1):
        if not np.any(load_mat(os.path.join(labels, id_ + '.mat'), 'S')):
            skip.add(id_)
        if report:
            report(done, len(images))
    held_out = set(test) | skip
    return ({'trainval': [i for i in images if i not in held_out], 'test': [i for i in test if i not in skip]},
            sorted(skip))


# -- PASCAL-Context ------------------------------------------------------
def write_59_labels(path):
    """Write the 59 task classes (1-59, 'index: name') to ``path``."""
    with open(path, 'w') as f:
        f.writelines('%d: %s\n' % pair for pair in datasets.read_label_list(CLASSES_59) if pair[0] > 0)


def context_mapping(context_dir):
    """[(task class, its name, labels.txt index, that name)] for the 59 classes: how the layer maps them."""
    labels_path = os.path.join(context_dir, 'labels.txt')
    if not os.path.isfile(labels_path):
        raise datasets.DataError('%s not found: it comes with the PASCAL-Context annotations%s'
                                 % (labels_path, see(datasets.PASCALContext)))
    labels = datasets.read_label_list(labels_path)
    labels_59 = datasets.read_label_list(os.path.join(context_dir, '59_labels.txt'))
    lut = datasets.context_lut(labels, labels_59, labels_path)
    names = dict(labels)
    rows = []
    for task_class, (_, name) in enumerate(labels_59, 1):
        index = int(np.flatnonzero(lut == task_class)[0])
        rows.append((task_class, name, index, names[index]))
    return rows


# -- the command ---------------------------------------------------------
def warn(message):
    print('warning: ' + message, file=sys.stderr)


def report(what):
    """A progress callback drawing ``what``'s bar on stderr."""
    return lambda done, total: progress(done, total, what, sys.stderr)


def print_written(paths, splits):
    for path, ids in zip(paths, splits.values()):
        print('wrote %d ids to %s' % (len(ids), path))


def run_seg11valid(args, path):
    """Write seg11valid: PASCAL VOC 2011 segmentation val minus SBD train.

    FCN validates on this set because VOC 2011 val intersects SBD train, which it
    trains on. With the real VOC 2011 (val: 1,111 images) and SBD (train: 8,498)
    it has 736 images (the paper's footnote); a warning says when it does not.
    The list goes to <voc_dir>/ImageSets/Segmentation/seg11valid.txt, where
    VOCSegDataLayer reads split 'seg11valid'.
    """
    voc_dir = path(args.voc_dir)
    splits = seg11valid_split(voc_dir, path(args.sbdd_dir))
    print_written(write_lists(os.path.join(voc_dir, 'ImageSets', 'Segmentation'), splits), splits)
    n = len(splits['seg11valid'])
    if n != SEG11VALID_SIZE:
        warn("seg11valid has %d images, the paper's has %d: are these VOC 2011 and SBD's release?"
             % (n, SEG11VALID_SIZE))


def run_sbdd(args, path):
    """Convert SBD's .mat labels to palette PNGs beside them (cls/<id>.png, inst/<id>.png), for viewing.

    The data layers read the .mat files; this is only for looking at the labels.
    Colours are PASCAL VOC's palette, so class PNGs look like VOC's SegmentationClass.
    """
    root = path(args.sbdd_dir)
    for kind in args.kind:
        n = sbdd_pngs(root, kind, report('sbdd ' + kind))
        print('converted %d %s labels in %s' % (n, kind, os.path.join(root, kind)))


def run_nyud(args, path):
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
    nyud_dir = path(args.nyud_dir)
    splits = nyud_splits_from_mat(args.mat) if args.mat else nyud_splits_from_lists(nyud_dir)
    print_written(write_lists(nyud_dir, splits), splits)
    for split, n in NYUD_SIZES.items():
        if len(splits[split]) != n:
            warn('%s has %d images, the standard NYUDv2 split has %d' % (split, len(splits[split]), n))


def run_siftflow(args, path):
    """Write SIFT Flow's split lists for SIFTFlowSegDataLayer: <siftflow_dir>/trainval.txt and test.txt.

    The standard split holds out 200 of the 2,688 images for test. Give the test
    images as a list (--test-list), one per line, as names (coast_natu975) or
    paths (Images/.../coast_natu975.jpg); trainval is every other image. Images
    whose semantic labels are all void (unannotated) are left out of both, as in
    FCN's lists.
    """
    root = path(args.siftflow_dir)
    if not os.path.isfile(args.test_list):
        raise datasets.DataError('test list %s not found' % args.test_list)
    test = datasets.read_ids(args.test_list)
    splits, skipped = siftflow_splits(root, test, report('reading labels'))
    print_written(write_lists(root, splits), splits)
    if skipped:
        print('left out unannotated images: %s' % ', '.join(skipped))
    if len(test) != SIFTFLOW_TEST_SIZE:
        warn('%d test images, the standard split has %d' % (len(test), SIFTFLOW_TEST_SIZE))


def run_context(args, path):
    """Check PASCAL-Context's label lists; write 59_labels.txt when it is missing.

    PASCALContextSegDataLayer maps the full labeling (LabelMap values are the
    indices of <context_dir>/labels.txt, 'index: name' a line) to the 59-class
    task listed in <context_dir>/59_labels.txt (same format, 1-59 in output
    order; every other class becomes background 0). Names match without spaces,
    and three 59-class names differ from labels.txt: diningtable is 'table',
    bedcloth 'bedclothes', clothes 'cloth'. This prints how each of the 59 maps.
    """
    context = path(args.context_dir)
    path_59 = os.path.join(context, '59_labels.txt')
    if os.path.isfile(os.path.join(context, 'labels.txt')) and not os.path.isfile(path_59):
        write_59_labels(path_59)
        print('wrote %s from %s' % (path_59, CLASSES_59))
    for row in context_mapping(context):
        print('%2d %-12s <- %3d %s' % row)


def parser():
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument('--data-root', default=None, metavar='DIR',
                        help='where relative directories start (default: $FCN_DATA_ROOT or data/)')
    p = argparse.ArgumentParser(prog='fcn prepare', description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    tasks = p.add_subparsers(dest='task', metavar='TASK', required=True)

    def task(name, run, summary):
        t = tasks.add_parser(name, parents=[common], help=summary, description=inspect.cleandoc(run.__doc__),
                             formatter_class=argparse.RawDescriptionHelpFormatter)
        t.set_defaults(run=run)
        return t

    def directory(t, flag, default, what):
        t.add_argument(flag, default=default, metavar='DIR',
                       help='%s; relative paths start at the data root (default %%(default)s)' % what)

    t = task('seg11valid', run_seg11valid, "VOC 2011 val minus SBD train (736 images), FCN's val split")
    directory(t, '--voc-dir', 'pascal/VOC2011', 'VOC 2011 directory')
    directory(t, '--sbdd-dir', 'sbdd/dataset', 'SBD dataset directory')
    t = task('sbdd', run_sbdd, "SBD's .mat labels as palette PNGs, for viewing (optional)")
    directory(t, '--sbdd-dir', 'sbdd/dataset', 'SBD dataset directory')
    t.add_argument('--kind', nargs='+', choices=('cls', 'inst'), default=('cls',),
                   help='which labels to convert (default: cls)')
    t = task('nyud', run_nyud, "NYUDv2's train, val, trainval and test lists")
    directory(t, '--nyud-dir', 'nyud', 'NYUD directory')
    t.add_argument('--mat', metavar='FILE', help='nyusplits.mat (Gupta et al.) or splits.mat (NYU)')
    t = task('siftflow', run_siftflow, "SIFT Flow's trainval and test lists")
    directory(t, '--siftflow-dir', 'sift-flow', 'SIFT Flow directory')
    t.add_argument('--test-list', required=True, metavar='FILE', help='the test images, one per line')
    t = task('pascal-context', run_context, "check PASCAL-Context's label lists; write 59_labels.txt")
    directory(t, '--context-dir', 'pascal-context', 'PASCAL-Context directory')
    return p


def main(argv=None):
    """The command: library errors (DataError) end it with a message."""
    args = parser().parse_args(argv)
    root = args.data_root or datasets.data_root()

    def path(directory):
        return os.path.join(root, os.path.expanduser(directory))  # an absolute directory stays as given

    try:
        args.run(args, path)
    except (datasets.DataError, OSError) as e:  # OSError: a list or PNG that cannot be written
        sys.exit('fcn prepare %s: %s' % (args.task, e))
    return 0
