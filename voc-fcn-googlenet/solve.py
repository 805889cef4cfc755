#!/usr/bin/env python
"""Train FCN-GoogLeNet on PASCAL VOC from the fully convolutional BVLC GoogLeNet.

Run from anywhere: python voc-fcn-googlenet/solve.py --help
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root

from fcn import train  # noqa: E402

if __name__ == '__main__':
    train.main(HERE, [train.Source('googlenet')])
