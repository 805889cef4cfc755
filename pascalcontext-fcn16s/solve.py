#!/usr/bin/env python
"""Train FCN-16s on PASCAL-Context from FCN-32s.

Run from anywhere: python pascalcontext-fcn16s/solve.py --help
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root

from fcn import train  # noqa: E402

if __name__ == '__main__':
    train.main(HERE, [train.Source('pascalcontext-fcn32s')])
