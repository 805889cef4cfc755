"""FCN-8s (VGG16) on SIFT Flow: semantic and geometric heads.

Writes trainval.prototxt, test.prototxt, deploy.prototxt and solver.prototxt next to this script.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root, from any working directory

from nets import siftflow, write_prototxts  # noqa: E402
from nets.solvers import sgd  # noqa: E402


def main():
    write_prototxts(HERE, {
        'trainval': siftflow.fcn_vgg16('trainval', 8),
        'test': siftflow.fcn_vgg16('test', 8),
        'deploy': siftflow.fcn_vgg16('deploy', 8),
        'solver': sgd('trainval.prototxt', 'test.prototxt', test_iter=200, base_lr=1e-12,
                      max_iter=300000, snapshot=0),
    })


if __name__ == '__main__':
    main()
