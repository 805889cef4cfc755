"""FCN-8s (VGG16) on PASCAL-Context, 59 classes and background.

Writes train.prototxt, val.prototxt, deploy.prototxt and solver.prototxt next to this script.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root, from any working directory

from nets import pascalcontext, write_prototxts  # noqa: E402
from nets.solvers import sgd  # noqa: E402


def main():
    write_prototxts(HERE, {
        'train': pascalcontext.fcn_vgg16('train', 8),
        'val': pascalcontext.fcn_vgg16('val', 8),
        'deploy': pascalcontext.fcn_vgg16('deploy', 8),
        'solver': sgd('train.prototxt', 'val.prototxt', test_iter=5105, base_lr=1e-14,
                      max_iter=300000),
    })


if __name__ == '__main__':
    main()
