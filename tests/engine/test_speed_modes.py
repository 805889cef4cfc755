"""Speed settings: the CPU default (channels_last, host memory reuse) keeps Caffe's
results (nets, solver steps, and the matrix-product backward it takes for fc-like
convolutions) and strict mode gives Caffe's order back; bf16 stays within its
precision; host memory reuse skips page faults."""
import resource
import subprocess
import sys

import numpy as np
import pytest
import torch

import torchcaffe as caffe
from torchcaffe import layers as L
from torchcaffe.engine import device
from torchcaffe.engine.layers import conv
from nets import fcn, vgg
from nets.blocks import seg_loss
import golden
import refcaffe
from test_solvers import new_solver, step_and_check

CASE = 'tiny_fcn8s_40x60'


@pytest.fixture
def settings():
    yield
    caffe.set_strict(False)
    caffe.set_cudnn_benchmark(False)


def test_default_is_fp32_channels_last_on_cpu_only(settings, monkeypatch):
    assert device.compute_dtype() == torch.float32 and device.channels_last()
    assert not torch.backends.cuda.matmul.allow_tf32 and not torch.backends.cudnn.allow_tf32
    assert device.describe() == 'fp32, channels_last, skipping repeated windows, reusing host memory'
    monkeypatch.setitem(device._state, 'gpu', True)  # as set_mode_gpu, without needing a GPU
    assert not device.channels_last()  # CUDA keeps Caffe's NCHW unless asked


STRICT = """
import torchcaffe as caffe
from torchcaffe.engine import device
print(device.describe())
caffe.set_strict(False)
print(device.describe())
"""


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='host memory reuse is a glibc setting')
def test_strict_mode_from_the_environment():
    """TORCHCAFFE_STRICT=1 starts the engine in Caffe's order; set_strict(False) leaves it."""
    r = subprocess.run([sys.executable, '-c', STRICT], capture_output=True, text=True, timeout=120,
                       env=dict(refcaffe.env(), TORCHCAFFE_STRICT='1'))
    assert r.returncode == 0, r.stderr
    assert r.stdout.splitlines() == ["fp32, Caffe's order (strict)", 'fp32, channels_last, skipping repeated windows, reusing host memory']


def test_strict_mode_matches_caffe(settings):
    caffe.set_strict()
    net, _ = golden.run_case(caffe, CASE, data_tol=1e-5, diff_tol=1e-4)
    assert net.blobs['conv1_1'].tdata.is_contiguous() and not device.channels_last()


@pytest.mark.parametrize('avx512', [True, False])
def test_channels_last_matches_caffe(settings, avx512, monkeypatch):
    """Both backward paths: NHWC, and on AVX2 CPUs, where oneDNN's NHWC weight gradient is
    slow, the weight gradient as matrix products."""
    monkeypatch.setattr(device, 'avx512', lambda: avx512)
    caffe.set_channels_last(True)
    net, _ = golden.run_case(caffe, CASE, data_tol=1e-4, diff_tol=1e-3)
    assert net.blobs['conv1_1'].tdata.is_contiguous(memory_format=torch.channels_last)


@pytest.mark.parametrize('case', [c for c in golden.cases('layer') if c.startswith('conv_')])
def test_avx2_backward_matches_caffe(settings, case, monkeypatch):
    """On AVX2 CPUs: the weight gradient as matrix products (strides, padding, dilation,
    1x1, batches), and grouped convolutions in NCHW."""
    monkeypatch.setattr(device, 'avx512', lambda: False)
    caffe.set_channels_last(True)
    golden.run_case(caffe, case, data_tol=1e-5, diff_tol=1e-4)


@pytest.mark.parametrize('stride, pad, dilation', [(1, 1, 1), (2, 3, 1), (1, 2, 2)])
def test_weight_gradient_in_strips_of_rows(stride, pad, dilation):
    """A map large enough for several strips gives one product's weight gradient."""
    rng = np.random.default_rng(0)
    x = torch.from_numpy(rng.standard_normal((2, 64, 80, 50)).astype(np.float32))
    w = torch.from_numpy(rng.standard_normal((8, 64, 3, 3)).astype(np.float32))
    x = x.contiguous(memory_format=torch.channels_last)
    y = torch.nn.functional.conv2d(x, w, None, stride, pad, dilation)
    dy = torch.from_numpy(rng.standard_normal(y.shape).astype(np.float32))
    gw, gb = conv._parameter_gradients(dy, x, (3, 3), (stride,) * 2, (pad,) * 2, (dilation,) * 2, (True, True))
    want = torch.ops.aten.convolution_backward(dy.double(), x.double(), w.double(), [8], (stride,) * 2,
                                               (pad,) * 2, (dilation,) * 2, False, [0, 0], 1,
                                               [False, True, True])
    torch.testing.assert_close(gw.double(), want[1], rtol=1e-4, atol=1e-3)
    torch.testing.assert_close(gb.double(), want[2], rtol=1e-4, atol=1e-3)


@pytest.mark.parametrize('case', ['solver_sgd_fixed', 'solver_adam', 'solver_sgd_clip', 'solver_sgd_l1'])
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


def test_channels_last_weights_follow_caffe_device_copy_semantics(settings):
    """In channels_last mode the engine keeps each weight in oneDNN's packed layout, as
    Caffe's GPU mode keeps a device copy: a write through ``.data`` fetched after the
    last forward reaches the next one; a write through an array held from before it
    does not (nor does it in Caffe's GPU mode), until ``.data`` is fetched again. (The
    first forward re-stores the weights channels_last: arrays held from before it no
    longer alias them.)"""
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
    net.forward()
    assert np.array_equal(net.blobs['score'].data, before)  # the packed copy is unchanged
    net.params['conv1_1'][0].data  # fetching the array hands it out: the copy is remade
    net.forward()
    reference.params['conv1_1'][0].data[...] *= -2
    caffe.set_channels_last(False)
    reference.forward()
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


def _pair_of_nets():
    """The golden FCN-8s case twice (strict and for a speed mode), with the same input."""
    args = golden.path(CASE, 'net.prototxt'), golden.path(CASE, 'weights.caffemodel'), caffe.TEST
    reference, net = caffe.Net(*args), caffe.Net(*args)
    data = np.random.RandomState(0).randn(*net.blobs['data'].data.shape) * 50
    net.blobs['data'].data[...] = reference.blobs['data'].data[...] = data
    return reference, net


def test_channels_last_fuses_relu_only_when_the_pass_runs_it(settings):
    """channels_last mode applies an in-place ReLU inside the convolution before it, yet
    a pass that ends at that convolution shows its output before the ReLU, and a pass
    that starts at the ReLU applies it."""
    reference, net = _pair_of_nets()
    caffe.set_channels_last(False)
    reference.forward()
    caffe.set_channels_last(True)
    net.forward()
    assert net.layer_dict['conv1_1'].relu_applied and net.layer_dict['fc6'].relu_applied
    assert golden.nerr(reference.blobs['score'].data, net.blobs['score'].data) <= 1e-5
    net.forward(end='conv1_1')
    assert not net.layer_dict['conv1_1'].relu_applied
    caffe.set_channels_last(False)
    reference.forward(end='conv1_1')
    pre_relu = reference.blobs['conv1_1'].data
    assert (pre_relu < 0).any() and golden.nerr(pre_relu, net.blobs['conv1_1'].data) <= 1e-5
    reference.forward(start='relu1_1')
    caffe.set_channels_last(True)
    net.forward(start='relu1_1')
    assert golden.nerr(reference.blobs['score'].data, net.blobs['score'].data) <= 1e-5


def test_bf16_keeps_activations_bfloat16_and_shows_float32(settings, memory):
    """bf16 mode passes activations between convolutions, ReLU, pooling, crop and
    eltwise in bfloat16, hands float32-only layers (the loss, Deconvolution) float32, shows every
    blob to Python as float32, and a host write to such a blob reaches the next pass."""
    caffe.set_precision('bf16')
    caffe.set_channels_last(True)
    reference, net = _pair_of_nets()
    net.forward()
    assert net.blobs['pool1'].tdata.dtype == torch.bfloat16
    assert net.blobs['score_pool4c'].tdata.dtype == torch.bfloat16  # a Crop of a convolution
    assert net.blobs['upscore2'].tdata.dtype == torch.float32  # Deconvolution computes in float32
    assert net.blobs['score'].tdata.dtype == torch.float32  # the loss took it
    pool1 = net.blobs['pool1'].data
    pool1[...] = 0
    assert pool1.dtype == np.float32 and net.blobs['pool1'].tdata.dtype == torch.float32
    net.forward(start='conv2_1')
    bias = net.params['conv2_1'][1].data
    expected = np.maximum(bias, 0).astype(np.float32)[None, :, None, None] * np.ones_like(net.blobs['conv2_1'].data)
    np.testing.assert_allclose(net.blobs['conv2_1'].data, expected, rtol=1e-2)


@pytest.fixture
def matmul_calls(monkeypatch):
    """Counts the convolution backward passes run as matrix products."""
    calls = []
    original = conv._matmul_backward
    monkeypatch.setattr(conv, '_matmul_backward', lambda *a: calls.append(1) or original(*a))
    return calls


@pytest.fixture
def all_by_matmul(monkeypatch, matmul_calls):
    """Every ungrouped convolution on the channels_last CPU path takes the matrix-product
    forward and backward, whatever its shape and the CPU."""
    monkeypatch.setattr(conv._ConvBase, '_by_matmul',
                        lambda self, x, dy: self._cpu_channels_last(x) and self.group == 1)
    monkeypatch.setattr(device, 'fast_cpu_gemm', lambda: True)
    return matmul_calls


@pytest.mark.parametrize('case', [c for c in golden.cases('layer') if c.startswith('conv_') and c != 'conv_group2'])
def test_matmul_backward_matches_caffe(settings, all_by_matmul, case):
    """The matrix-product backward (strides, padding, dilation, 1x1, batches) gives Caffe's gradients."""
    caffe.set_channels_last(True)
    golden.run_case(caffe, case, data_tol=1e-5, diff_tol=1e-4)
    assert all_by_matmul


@pytest.mark.parametrize('precision, tols', [('fp32', dict(data_tol=1e-4, diff_tol=1e-3)),
                                             ('bf16', dict(data_tol=5e-2, diff_tol=1e-1, param_tol=0.3,
                                                           sentinel=False, loss_tol=1e-2))])
def test_matmul_backward_in_the_fcn(settings, all_by_matmul, precision, tols):
    """Every convolution of the golden FCN-8s case on the matrix-product backward."""
    caffe.set_precision(precision)
    caffe.set_channels_last(True)
    golden.run_case(caffe, CASE, **tols)
    assert len(all_by_matmul) >= 15


def test_matmul_backward_takes_the_fc_layers(settings, matmul_calls, monkeypatch):
    """The shape rule picks convolutions with fewer output pixels than outputs: fc6 (7x7)
    and fc7 (1x1) of an FCN, not its 3x3 convolutions (conv5_2: 8 outputs) nor the
    21-class score layer."""
    taken = {}
    rule = conv._ConvBase._by_matmul
    monkeypatch.setattr(conv._ConvBase, '_by_matmul',
                        lambda self, x, dy: taken.setdefault(self.name, rule(self, x, dy)))
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 200, 200]))
    n.label = L.Input(shape=dict(dim=[1, 1, 200, 200]))
    top = vgg.trunk(n, n.data, widths=(2, 4, 4, 8, 8), depths=(2,) * 5, fc=64)
    fcn.head(n, top, n.data, 21, 32)
    n.loss = seg_loss(n.score, n.label)
    caffe.set_channels_last(True)
    net = caffe.Net(n.to_proto(), caffe.TRAIN)
    net.forward()
    net.backward()
    assert 21 < net.blobs['fc7'].data.shape[2] * net.blobs['fc7'].data.shape[3] < 64
    assert taken['fc6'] and taken['fc7'] and len(matmul_calls) == 2
    assert not taken['conv5_2'] and not taken['score_fr']


@pytest.mark.parametrize('fast_gemm, avx512, kernels', [(True, True, [7, 1]), (True, False, [7, 1]),
                                                       (False, True, []), (False, False, [1])])
def test_matmul_forward_only_where_the_cpus_gemm_is_fast(settings, monkeypatch, fast_gemm, avx512, kernels):
    """fc-like forward passes run as matrix products on a CPU with a fast GEMM (Intel),
    and fc7's 1x1 on CPUs without AVX-512, else as oneDNN convolutions."""
    forwards = []
    original = conv._matmul_forward
    monkeypatch.setattr(conv, '_matmul_forward', lambda *a: forwards.append(a[1].shape[-1]) or original(*a))
    monkeypatch.setattr(device, 'fast_cpu_gemm', lambda: fast_gemm)
    monkeypatch.setattr(device, 'avx512', lambda: avx512)
    caffe.set_channels_last(True)
    net, _ = golden.run_case(caffe, CASE, data_tol=1e-4, diff_tol=1e-3)
    assert sorted(set(forwards), reverse=True) == kernels


REFILL = """
import resource, sys, torch
import torchcaffe

def refill(mib):
    # page faults of allocating and writing a block after the same was freed
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    torch.ones(mib * 2 ** 18)
    return resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before

# The fewest faults of several refills. Until the heap settles a freed block may be
# stranded between the small leftovers of torch's aligned allocation, which glibc's
# per-thread cache holds, so the next block comes from fresh memory: how many refills
# that lasts depends on the heap's layout (1 to 4 here, at least 5 in a CI run; the
# engine settles in its first passes). After disabling, a block larger than all the
# heap grew to (16 x 64 MiB at most) shows that freed blocks go back to the system.
counts = []
for reuse, mib in ((False, 64), (True, 64), (False, 1280)):
    torchcaffe.set_reuse_host_memory(reuse)
    counts.append(min(refill(mib) for _ in range(16 if reuse else 2)))
print(*counts)
"""


@pytest.mark.skipif(not sys.platform.startswith('linux'), reason='a glibc malloc setting')
def test_reuse_host_memory_skips_page_faults():
    """With reuse a freed block serves the next allocation without faulting its pages in
    again; disabling restores glibc's unmapping (in a child: the setting is process-wide)."""
    r = subprocess.run([sys.executable, '-c', REFILL], capture_output=True, text=True, timeout=120,
                       env=refcaffe.env())
    assert r.returncode == 0, r.stderr
    default, reused, restored = map(int, r.stdout.split())
    pages = 2 ** 20 // resource.getpagesize()     # in a MiB
    assert default >= 0.9 * 64 * pages and restored >= 0.9 * 1280 * pages
    assert reused < default / 10


def test_reuse_host_memory_needs_glibc(monkeypatch):
    monkeypatch.setattr(sys, 'platform', 'darwin')
    with pytest.raises(RuntimeError, match='needs Linux with glibc'):
        caffe.set_reuse_host_memory(True)
