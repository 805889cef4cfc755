#!/usr/bin/env python
"""Train early-fusion FCN-32s on NYUDv2 color + depth (4 input channels) from the fully
convolutional VGG16: conv1_1_bgrd takes VGG's color filters, and their mean for depth.

Run from anywhere: python nyud-fcn32s-color-d/solve.py --help
"""
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(HERE))  # the repository root

from fcn import train  # noqa: E402


def init_depth_filters(net, params):
    """conv1_1_bgrd: VGG's conv1_1 for B, G, R and the mean of those filters for depth."""
    weight, bias = params['conv1_1']
    net.params['conv1_1_bgrd'][0].data[:, :3] = weight
    net.params['conv1_1_bgrd'][0].data[:, 3] = weight.mean(axis=1)
    net.params['conv1_1_bgrd'][1].data[...] = bias


if __name__ == '__main__':
    train.main(HERE, [train.Source('vgg16')], score_every=2000, init_hook=init_depth_filters)
