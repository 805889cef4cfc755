"""FCN-AlexNet on PASCAL VOC: accumulated batches of 20, normalized loss.

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
        'train': voc.fcn_alexnet('train'),
        'val': voc.fcn_alexnet('seg11valid'),
        'deploy': voc.fcn_alexnet('deploy'),
        'solver': sgd('train.prototxt', 'val.prototxt', test_iter=736, base_lr=1e-4,
                      momentum=0.9, iter_size=20),
    })


if __name__ == '__main__':
    main()
