#!/usr/bin/env python
"""Train FCN-8s on SIFT Flow from FCN-16s.

Run from anywhere: python siftflow-fcn8s/solve.py --help
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root

from fcn import train  # noqa: E402

if __name__ == '__main__':
    train.main(HERE, [train.Source('siftflow-fcn16s')],
               heads=(('score_sem', 'sem'), ('score_geo', 'geo')),
               exclude={'score_sem': 'absent'}, score_every=2000)
