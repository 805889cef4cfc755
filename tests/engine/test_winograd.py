"""Winograd's F(4x4, 3x3): the convolution, its input and weight gradients against
aten's in float64, and through the engine against Caffe's golden cases."""
import numpy as np
import pytest
import torch

import torchcaffe as caffe
from torchcaffe import layers as L
from torchcaffe.engine import device, winograd
from torchcaffe.engine.layers import conv
import golden
from test_speed_modes import settings  # noqa: F401 (fixture)

aten = torch.ops.aten


@pytest.mark.parametrize('n, c, k, h, w, pad', [(1, 8, 5, 13, 9, (1, 1)), (2, 3, 4, 7, 7, (0, 2)),
                                                (1, 16, 16, 30, 41, (2, 0)), (2, 32, 24, 50, 17, (1, 1)),
                                                (1, 4, 4, 3, 3, (0, 0)), (1, 4, 6, 5, 4, (7, 3)),
                                                (2, 8, 8, 16, 12, (1, 1))])
@pytest.mark.parametrize('strip_bytes', [1, winograd.STRIP_BYTES])
def test_matches_direct_convolution(n, c, k, h, w, pad, strip_bytes, monkeypatch):
    """Forward (bias, ReLU), input and weight gradients equal aten's in float64, in one
    strip or one strip per tile row, for outputs a multiple of the tile or not."""
    monkeypatch.setattr(winograd, 'STRIP_BYTES', strip_bytes)
    monkeypatch.setattr(winograd, 'MIN_TILES', 1)
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((n, c, h, w))).contiguous(memory_format=torch.channels_last)
    wt = torch.from_numpy(rng.standard_normal((k, c, 3, 3)))
    b = torch.from_numpy(rng.standard_normal(k))
    y = winograd.conv3x3(x, winograd.kernel(wt), b, pad, relu=True)
    want = torch.relu(torch.nn.functional.conv2d(x, wt, b, padding=pad))
    torch.testing.assert_close(y, want, rtol=1e-10, atol=1e-10)
    assert y.is_contiguous(memory_format=torch.channels_last)
    dy = torch.from_numpy(rng.standard_normal(want.shape))
    gi, gw = aten.convolution_backward(dy, x, wt, None, [1, 1], list(pad), [1, 1], False, [0, 0], 1,
                                       [True, True, False])[:2]
    dw = winograd.weight_gradient(dy, x, pad)
    torch.testing.assert_close(dw, gw, rtol=1e-10, atol=1e-10)
    assert dw.is_contiguous(memory_format=torch.channels_last)
    if max(pad) <= 2:
        torch.testing.assert_close(winograd.input_gradient(dy, wt, pad), gi, rtol=1e-10, atol=1e-10)


def test_slab_transforms_are_the_matrices():
    """The transforms spelled out as sums of slabs are Lavin and Gray's B^T, A^T, A, G and G^T."""
    eye = torch.eye(6, dtype=torch.float64)
    bt, at, g = (torch.tensor(m, dtype=torch.float64) for m in (winograd._BT, winograd._AT, winograd._G))
    assert torch.equal(winograd._bt(eye), bt)
    assert torch.equal(winograd._at(eye), at)
    assert torch.equal(winograd._a(eye[:4, :4]), at.t())
    assert torch.equal(winograd._g(eye[:3, :3]), g)
    assert torch.equal(winograd._gt(eye), g.t())


def test_float32_error_is_rounding():
    """In float32 at VGG's widths the result stays within 3e-5 of the largest output."""
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.standard_normal((1, 256, 40, 40)).astype(np.float32))
    wt = torch.from_numpy(rng.standard_normal((256, 256, 3, 3)).astype(np.float32))
    y = winograd.conv3x3(x.contiguous(memory_format=torch.channels_last), winograd.kernel(wt))
    want = torch.nn.functional.conv2d(x.double(), wt.double(), padding=1)
    assert (y.double() - want).abs().max() <= 3e-5 * want.abs().max()


@pytest.fixture
def winograd_calls(monkeypatch):
    """Which of winograd's passes ran, as on an AVX2 CPU."""
    monkeypatch.setattr(device, 'avx512', lambda: False)
    calls = []
    for name in ('conv3x3', 'input_gradient', 'weight_gradient'):
        original = getattr(winograd, name)
        monkeypatch.setattr(winograd, name, lambda *a, _n=name, _f=original, **kw: calls.append(_n) or _f(*a, **kw))
    return calls


@pytest.fixture
def all_winograd(monkeypatch, winograd_calls):
    """Every ungrouped 3x3 stride-1 convolution by Winograd, whatever its width."""
    monkeypatch.setattr(conv, 'WINOGRAD_CHANNELS', 1)
    monkeypatch.setattr(conv, 'WINOGRAD_WEIGHT_CHANNELS', 1)
    return winograd_calls


@pytest.mark.parametrize('case, tols', [('conv_k3_p1', dict(data_tol=1e-5, diff_tol=1e-4)),
                                        ('conv_nobias', dict(data_tol=1e-5, diff_tol=1e-4)),
                                        ('tiny_fcn8s_40x60', dict(data_tol=1e-4, diff_tol=1e-3)),
                                        ('tiny_fcn32s_59x33', dict(data_tol=1e-4, diff_tol=1e-3)),
                                        ('tiny_siftflow_fcn16s_40x60', dict(data_tol=1e-4, diff_tol=1e-3))])
def test_engine_matches_caffe(settings, all_winograd, case, tols):
    """Forward, input and weight gradients by Winograd give Caffe's results; in the FCN
    cases on packed inputs (pad 100) as well."""
    golden.run_case(caffe, case, **tols)
    assert {'conv3x3', 'weight_gradient'} <= set(all_winograd)
    if case.startswith('tiny'):
        assert 'input_gradient' in all_winograd


def _conv(channels, num_output, **kw):
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, channels, 12, 12]))
    n.conv = L.Convolution(n.data, num_output=num_output, pad=1,
                           weight_filler=dict(type='gaussian', std=0.01), **kw)
    n.loss = L.Reduction(n.conv, loss_weight=1)
    proto = n.to_proto()
    proto.force_backward = True
    net = caffe.Net(proto, caffe.TRAIN)
    net.forward()
    net.backward()
    return net


@pytest.mark.parametrize('shape, kw, passes', [
    ((128, 128), dict(kernel_size=3), ['conv3x3', 'input_gradient', 'weight_gradient']),
    ((64, 128), dict(kernel_size=3), ['weight_gradient']),
    ((32, 128), dict(kernel_size=3), []),
    ((128, 128), dict(kernel_size=3, stride=2), []),
    ((128, 128), dict(kernel_size=3, dilation=2), []),
    ((128, 128), dict(kernel_size=3, group=2), []),
    ((128, 128), dict(kernel_size=5), [])])
def test_default_rule(settings, winograd_calls, shape, kw, passes):
    """By default: 3x3, stride 1, ungrouped; forward and input gradient from 128 channels
    in and out, the weight gradient from 64."""
    caffe.set_channels_last(True)
    _conv(*shape, **kw)
    assert sorted(set(winograd_calls)) == passes


@pytest.mark.parametrize('mode', ['avx512', 'bf16', 'strict'])
def test_not_with(settings, winograd_calls, monkeypatch, mode):
    """Not on AVX-512 CPUs (not measured there), in bf16, nor in Caffe's order."""
    if mode == 'avx512':
        monkeypatch.setattr(device, 'avx512', lambda: True)
    elif mode == 'bf16':
        caffe.set_precision('bf16')
    else:
        caffe.set_strict()
    _conv(128, 128, kernel_size=3)
    assert winograd_calls == []
