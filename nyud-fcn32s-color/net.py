"""FCN-32s (VGG16) on NYUDv2, color (BGR) input.

Writes trainval.prototxt, test.prototxt, deploy.prototxt and solver.prototxt next to this script.
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root, from any working directory

from nets import nyud, write_prototxts  # noqa: E402
from nets.solvers import sgd  # noqa: E402


def main():
    write_prototxts(HERE, {
        'trainval': nyud.fcn32s('trainval', 'color'),
        'test': nyud.fcn32s('test', 'color'),
        'deploy': nyud.fcn32s('deploy', 'color'),
        'solver': sgd('trainval.prototxt', 'test.prototxt', test_iter=654, base_lr=1e-10,
                      max_iter=300000, snapshot=2000),
    })


if __name__ == '__main__':
    main()
