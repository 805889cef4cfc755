#!/usr/bin/env python
"""Train FCN-32s on PASCAL-Context (59 classes + background) from the fully convolutional VGG16.

Run from anywhere: python pascalcontext-fcn32s/solve.py --help
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root

from fcn import train  # noqa: E402

if __name__ == '__main__':
    train.main(HERE, [train.Source('vgg16')])
