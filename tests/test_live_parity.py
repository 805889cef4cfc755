"""Live parity with real Caffe: random FCN-style nets agree forward and backward.

Skipped where no real pycaffe is built (scripts/build_pycaffe.sh; CI builds it).
"""
import numpy as np
import pytest

import torchcaffe
from torchcaffe.formats import prototxt
import golden
import random_nets

SEEDS = range(12)


def build_pair(pycaffe, seed, tmp_path):
    """The same random net with the same weights in both engines (Caffe reads our caffemodel)."""
    s = random_nets.spec(seed)
    path = str(tmp_path / 'net.prototxt')
    prototxt.write(path, random_nets.net_param(s))
    ours = torchcaffe.Net(path, torchcaffe.TEST)
    random_nets.fill(ours, seed)
    weights = str(tmp_path / 'weights.caffemodel')
    ours.save(weights)
    theirs = pycaffe.Net(path, weights, pycaffe.TEST)
    return s, ours, theirs


@pytest.mark.parametrize('seed', SEEDS)
def test_random_fcn_forward_backward(pycaffe, seed, tmp_path):
    s, ours, theirs = build_pair(pycaffe, seed, tmp_path)
    assert list(ours.blobs) == list(theirs.blobs)
    data, label = random_nets.batch(s, seed)
    for net in (ours, theirs):
        net.blobs['data'].data[...] = data
        net.blobs['label'].data[...] = label
    loss = [net._forward(0, len(net.layers) - 1) for net in (ours, theirs)]
    assert abs(loss[0] - loss[1]) <= 1e-5 * max(1.0, abs(loss[1])), loss
    for name in ours.blobs:
        e = golden.nerr(theirs.blobs[name].data, ours.blobs[name].data)
        assert e <= 1e-4, 'data %s: nerr %.3g' % (name, e)
    for net in (ours, theirs):
        net.clear_param_diffs()
        net._backward(len(net.layers) - 1, 0)
    for layer, blobs in theirs.params.items():
        for i, b in enumerate(blobs):
            e = golden.nerr(b.diff, ours.params[layer][i].diff)
            assert e <= 1e-3, 'param diff %s/%d: nerr %.3g' % (layer, i, e)
    skip = random_nets.tie_sensitive(ours)
    for name in ours.blobs:
        if name not in skip:
            e = golden.nerr(theirs.blobs[name].diff, ours.blobs[name].diff)
            assert e <= 1e-3, 'diff %s: nerr %.3g' % (name, e)
