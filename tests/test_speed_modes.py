"""Opt-in speed settings: channels_last keeps Caffe's results (nets and solver steps),
bf16 stays within its precision, and the default is strict fp32."""
import numpy as np
import pytest
import torch

import torchcaffe as caffe
from torchcaffe.engine import device
import golden
from test_solvers import new_solver, step_and_check

CASE = 'tiny_fcn8s_40x60'


@pytest.fixture
def settings():
    yield
    caffe.set_precision('fp32')
    caffe.set_channels_last(False)
    caffe.set_cudnn_benchmark(False)


def test_default_is_strict_fp32():
    assert device.compute_dtype() == torch.float32 and not device.channels_last()
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32


def test_channels_last_matches_caffe(settings):
    caffe.set_channels_last(True)
    net, _ = golden.run_case(caffe, CASE, data_tol=1e-4, diff_tol=1e-3)
    assert net.blobs['conv1_1'].tdata.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize('case', ['solver_sgd_fixed', 'solver_adam'])
def test_channels_last_solver_steps_match_caffe(settings, case, monkeypatch):
    """Weights re-stored channels_last still take Caffe's 4 updates and snapshot as Caffe's."""
    caffe.set_channels_last(True)
    g = golden.Golden(case)
    solver = new_solver(case, monkeypatch)
    solver.net.copy_from('weights.caffemodel')
    for k in range(1, 5):
        step_and_check(solver, g, k)
    convs = [name for name, layer in solver.net.layer_dict.items() if layer.type == 'Convolution']
    assert convs and all(solver.net.params[name][0].tdata.is_contiguous(memory_format=torch.channels_last)
                         for name in convs)
    model = solver.net.to_proto()
    for (layer, i), value in g.params('iter/4/param/').items():
        stored = np.array(model.layer[list(solver.net._layer_names).index(layer)].blobs[i].data)
        np.testing.assert_allclose(stored.reshape(value.shape), value, rtol=0, atol=1e-5 * np.abs(value).max())


def test_channels_last_weights_still_alias_their_numpy_view(settings):
    """A write through a weight blob's numpy view, taken after the blob was re-stored
    channels_last and held, reaches the next forward as in Caffe."""
    args = golden.path(CASE, 'net.prototxt'), golden.path(CASE, 'weights.caffemodel'), caffe.TEST
    reference = caffe.Net(*args)
    caffe.set_channels_last(True)
    net = caffe.Net(*args)
    data = np.random.RandomState(0).randn(*net.blobs['data'].data.shape) * 50
    net.blobs['data'].data[...] = reference.blobs['data'].data[...] = data
    net.forward()
    held = net.params['conv1_1'][0].data
    net.forward()
    before = net.blobs['score'].data.copy()
    held *= -2
    reference.params['conv1_1'][0].data[...] *= -2
    caffe.set_channels_last(False)
    reference.forward()
    caffe.set_channels_last(True)
    net.forward()
    expected, got = reference.blobs['score'].data, net.blobs['score'].data
    assert golden.nerr(expected, got) <= 1e-5 and golden.nerr(expected, before) > 1e-2


def test_bf16_is_close(settings):
    caffe.set_precision('bf16')
    assert device.compute_dtype() == torch.bfloat16
    # bfloat16 keeps 8 bits of mantissa: a few percent of each blob's range; weight
    # gradients sum tens of thousands of such products through the whole net
    net, g = golden.run_case(caffe, CASE, data_tol=5e-2, diff_tol=1e-1, param_tol=0.3,
                             sentinel=False, loss_tol=1e-2)
    assert net.blobs['score'].data.dtype == np.float32  # blobs stay float32


def test_tf32_and_benchmark_flags(settings):
    caffe.set_precision('tf32')
    assert torch.backends.cuda.matmul.allow_tf32 and torch.backends.cudnn.allow_tf32
    caffe.set_cudnn_benchmark(True)
    assert torch.backends.cudnn.benchmark
    with pytest.raises(ValueError, match="precision must be one of fp32, tf32, bf16"):
        caffe.set_precision('fp16')
