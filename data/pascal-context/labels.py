"""Check PASCAL-Context's label lists; write 59_labels.txt when it is missing.

PASCALContextSegDataLayer maps the full labeling (LabelMap values are the
indices of <context_dir>/labels.txt, 'index: name' a line) to the 59-class
task listed in <context_dir>/59_labels.txt (same format, 1-59 in output
order; every other class becomes background 0). Names match without spaces,
and three 59-class names differ from labels.txt: diningtable is 'table',
bedcloth 'bedclothes', clothes 'cloth'. This prints how each of the 59 maps.
"""
import argparse
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..'))
from fcn import datasets  # noqa: E402

CLASSES = os.path.join(os.path.dirname(os.path.abspath(__file__)), 'classes-59.txt')


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--context-dir', default='pascal-context',
                        help='PASCAL-Context directory; relative paths start at the data root (default %(default)s)')
    args = parser.parse_args(argv)
    context = datasets.resolve(args.context_dir)
    labels_path, path_59 = os.path.join(context, 'labels.txt'), os.path.join(context, '59_labels.txt')
    if not os.path.isfile(labels_path):
        raise datasets.DataError('%s not found: it comes with the PASCAL-Context annotations (see %s)'
                                 % (labels_path, os.path.join(os.path.dirname(__file__), 'README.md')))
    if not os.path.isfile(path_59):
        with open(path_59, 'w') as f:
            f.writelines('%d: %s\n' % pair for pair in datasets.read_label_list(CLASSES) if pair[0] > 0)
        print('wrote %s from %s' % (path_59, CLASSES))
    labels, labels_59 = datasets.read_label_list(labels_path), datasets.read_label_list(path_59)
    lut = datasets.context_lut(labels, labels_59, labels_path)
    names = dict(labels)
    for task_class, (_, name) in enumerate(labels_59, 1):
        index = int(np.flatnonzero(lut == task_class)[0])
        print('%2d %-12s <- %3d %s' % (task_class, name, index, names[index]))
    return lut


if __name__ == '__main__':
    main()
