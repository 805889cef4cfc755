"""Opt-in speed settings: channels_last keeps Caffe's results, bf16 stays within its
precision, and the default is strict fp32."""
import numpy as np
import pytest
import torch

import torchcaffe as caffe
from torchcaffe.engine import device
import golden

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
