"""Coordinate maps and computed crops, as pycaffe's coord_map."""
import json
import os
from fractions import Fraction

import numpy as np
import pytest

import torchcaffe as caffe
from torchcaffe import layers as L, params as P
from torchcaffe.coord_map import (AxisMismatchException, compose, coord_map,
                                  coord_map_from_to, crop, inverse)
from torchcaffe.errors import NetError

from nets import voc
from tiny_nets import GOLDEN, GOLDEN_CASES, build_golden


def crops(net):
    return {l.name: (l.crop_param.axis, list(l.crop_param.offset))
            for l in net.layer if l.type == 'Crop'}


def data_input(shape=(1, 3, 64, 64)):
    return L.Input(shape=dict(dim=list(shape)))


@pytest.mark.parametrize('net, expected', [
    (voc.fcn_vgg16('deploy', 32), {'score': (2, [19])}),
    (voc.fcn_vgg16('deploy', 16), {'score_pool4c': (2, [5]), 'score': (2, [27])}),
    (voc.fcn_vgg16('deploy', 8), {'score_pool4c': (2, [5]), 'score_pool3c': (2, [9]),
                                  'score': (2, [31])}),
    (voc.fcn_vgg16('deploy', 8, at_once=True),
     {'score_pool4c': (2, [5]), 'score_pool3c': (2, [9]), 'score': (2, [31])}),
    (voc.fcn_alexnet('deploy'), {'score': (2, [18])}),
    (voc.fcn_googlenet('deploy'), {'score': (2, [1])}),
])
def test_fcn_crop_offsets(net, expected):
    assert crops(net) == expected


@pytest.mark.parametrize('case', GOLDEN_CASES)
def test_crops_equal_pycaffes_on_the_golden_nets(case):
    with np.load(os.path.join(GOLDEN, case, 'golden.npz')) as z:
        golden = json.loads(str(z['meta/crop_offsets']))
    assert golden, 'the golden case records its crops'
    ours = crops(build_golden(case))
    assert ours == {name: (c['axis'], c['offset']) for name, c in golden.items()}


def test_layer_maps():
    data = data_input()
    conv = L.Convolution(data, kernel_size=5, stride=2, pad=1, dilation=2)
    axis, scale, shift = coord_map(conv.fn)  # dilated kernel 9: (1 - 4) / 2
    assert (axis, list(scale), list(shift)) == (1, [Fraction(1, 2)], [Fraction(-3, 2)])
    deconv = L.Deconvolution(data, convolution_param=dict(kernel_size=4, stride=2, pad=1))
    assert [list(v) for v in coord_map(deconv.fn)[1:]] == [[2], [Fraction(1, 2)]]
    pool = L.Pooling(data, pool=P.Pooling.MAX, kernel_h=3, kernel_w=2, stride=2)
    assert [list(v) for v in coord_map(pool.fn)[1:]] == [
        [Fraction(1, 2)], [Fraction(-1, 2), Fraction(-1, 4)]]  # one stride for both axes
    cropped = L.Crop(data, data, crop_param=dict(axis=2, offset=[3, 4]))
    assert coord_map(cropped.fn)[0] == 1 and list(coord_map(cropped.fn)[2]) == [-3, -4]
    assert list(coord_map(L.ReLU(data).fn)[1]) == [1]


def test_compose_and_inverse():
    a = (1, np.array([Fraction(1, 2)], dtype=object), np.array([Fraction(3)], dtype=object))
    b = (None, np.array([Fraction(4)], dtype=object), np.array([Fraction(1)], dtype=object))
    axis, scale, shift = compose(a, b)
    assert (axis, list(scale), list(shift)) == (1, [2], [Fraction(7, 2)])
    axis, scale, shift = compose(a, inverse(a))
    assert (axis, list(scale), list(shift)) == (1, [1], [0])
    with pytest.raises(AxisMismatchException):
        compose(a, (2,) + a[1:])


def test_crop_through_concat_of_channels():
    color, depth = data_input(), data_input((1, 1, 64, 64))
    data = L.Concat(color, depth)
    up = L.Deconvolution(L.Convolution(data, kernel_size=3, stride=2),
                         convolution_param=dict(kernel_size=5, stride=2))
    assert crop(up, color).fn.params['crop_param'] == dict(axis=2, offset=[1])


def test_error_without_common_ancestor_names_both_tops():
    n = caffe.NetSpec()
    n.a, n.b = data_input(), data_input()
    n.conv = L.Convolution(n.a, kernel_size=3)
    with pytest.raises(NetError, match=r"Top\('conv'\).*Top\('b'\)"):
        crop(n.conv, n.b)


def test_error_on_non_integral_offset():
    n = caffe.NetSpec()
    n.data = data_input()
    n.up = L.Deconvolution(L.Convolution(n.data, kernel_size=2, stride=2),
                           convolution_param=dict(kernel_size=3, stride=2))
    with pytest.raises(NetError, match=r"Top\('up'\).*Top\('data'\).*not integral \(1/2\)"):
        crop(n.up, n.data)


def test_error_on_scale_mismatch_and_negative_offset():
    n = caffe.NetSpec()
    n.data = data_input()
    n.pool = L.Pooling(n.data, kernel_size=2, stride=2)
    with pytest.raises(NetError, match='scales differ'):
        crop(n.pool, n.data)
    n.big = L.Convolution(n.data, kernel_size=3, pad=3)
    with pytest.raises(NetError, match='negative offset'):
        crop(n.data, n.big)


def test_crop_across_pass_through_layers_only():
    data = data_input()
    assert crop(L.ReLU(data), data).fn.params['crop_param'] == dict(axis=2, offset=[0])


def test_map_between_tops():
    n = caffe.NetSpec()
    n.data = data_input()
    n.conv = L.Convolution(n.data, kernel_size=3, pad=5)
    axis, scale, shift = coord_map_from_to(n.conv, n.data)
    assert (axis, list(scale), list(shift)) == (1, [1], [-4])
