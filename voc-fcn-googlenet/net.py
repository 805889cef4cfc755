"""FCN-GoogLeNet on PASCAL VOC (paper, Table 1; no released model).

Writes train.prototxt, val.prototxt, deploy.prototxt and solver.prototxt next to this script.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root, from any working directory

from nets import voc, write_prototxts  # noqa: E402
from nets.solvers import sgd  # noqa: E402


def main():
    write_prototxts(HERE, {
        'train': voc.fcn_googlenet('train'),
        'val': voc.fcn_googlenet('seg11valid'),
        'deploy': voc.fcn_googlenet('deploy'),
        'solver': sgd('train.prototxt', 'val.prototxt', test_iter=736, base_lr=1e-10),
    })


if __name__ == '__main__':
    main()
