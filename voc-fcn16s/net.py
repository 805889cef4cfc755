"""FCN-16s (VGG16) on PASCAL VOC, fine-tuned from FCN-32s.

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
        'train': voc.fcn_vgg16('train', 16),
        'val': voc.fcn_vgg16('seg11valid', 16),
        'deploy': voc.fcn_vgg16('deploy', 16),
        'solver': sgd('train.prototxt', 'val.prototxt', test_iter=736, base_lr=1e-12),
    })


if __name__ == '__main__':
    main()
