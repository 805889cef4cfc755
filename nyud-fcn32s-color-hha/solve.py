#!/usr/bin/env python
"""Train late-fusion FCN-32s on NYUDv2 color + HHA from the trained color and HHA nets.

Run from anywhere: python nyud-fcn32s-color-hha/solve.py --help
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root

from fcn import train  # noqa: E402

if __name__ == '__main__':
    train.main(HERE, [train.Source('nyud-fcn32s-color', 'color'), train.Source('nyud-fcn32s-hha', 'hha')],
               score_every=2000)
