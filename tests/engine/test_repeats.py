"""Packed maps (repeats.py): a convolution or MAX pooling computed on a map held
without its repeated rows and columns gives, expanded, what it gives on the full
map; the blob expands itself for every reader; an FCN's forward pass runs packed."""
import numpy as np
import pytest
import torch
import torch.nn.functional as F

import torchcaffe as caffe
from torchcaffe import layers as L
from torchcaffe.engine import device, repeats
from torchcaffe.engine.blob import Blob


def random_runs(rng, size):
    """Up to three runs of equal rows, as (lo, hi, extra), in a packed axis of ``size``."""
    runs, lo = [], int(rng.integers(0, 3))
    while len(runs) < 3 and lo < size:
        hi = min(size - 1, lo + int(rng.integers(0, 4)))
        runs.append((lo, hi, int(rng.integers(0, 9))))
        lo = hi + 1 + int(rng.integers(1, 4))
    return tuple(runs)


def random_packed(rng, size=(9, 11), channels=3):
    """A Packed map whose runs really hold equal rows and columns."""
    t = torch.from_numpy(rng.standard_normal((2, channels) + size).astype(np.float32))
    runs = tuple(random_runs(rng, n) for n in size)
    for axis, axis_runs in enumerate(runs, 2):
        for lo, hi, _ in axis_runs:
            idx = torch.arange(lo, hi + 1)
            t.index_copy_(axis, idx, t.index_select(axis, idx[:1]).expand_as(t.index_select(axis, idx)).clone())
    return repeats.Packed(t, runs)


def packed_blob(p):
    full = repeats.expand(p)
    blob = Blob(full.shape)
    blob.set_packed(p)
    return blob, full


@pytest.mark.parametrize('seed', range(60))
def test_convolution_on_packed_maps_equals_the_full_map(seed):
    rng = np.random.default_rng(seed)
    p = random_packed(rng)
    kernel = [int(k) for k in rng.integers(1, 4, 2)]
    stride = [int(s) for s in rng.integers(1, 3, 2)]
    dilation = [int(d) for d in rng.integers(1, 3, 2)]
    pad = [int(v) for v in rng.choice([0, 1, 2, 7, 40, 57], 2)]
    w = torch.from_numpy(rng.standard_normal((4, 3) + tuple(kernel)).astype(np.float32))
    blob, full = packed_blob(p)
    want = F.conv2d(full, w, None, stride, pad, dilation)
    extent = [d * (k - 1) + 1 for d, k in zip(dilation, kernel)]
    plan = repeats.plan(blob, extent, stride, pad, pad_is_zero_run=True)
    if plan is None:  # nothing to leave out
        assert not any(extra for axis in p.runs for _, _, extra in axis) and max(pad) < 40
        return
    y = F.conv2d(plan.input, w, None, stride, plan.pad, dilation)
    got = repeats.expand(plan.output(y, want.shape))
    torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    assert blob.packed() is p  # planning reads the packed tensor without expanding it
    # the weight gradient: the packed input with the diff folded onto the packed output
    g = torch.from_numpy(rng.standard_normal(want.shape).astype(np.float32))

    def weight_gradient(g, x, pad):
        return torch.ops.aten.convolution_backward(g, x, w, None, stride, pad, dilation, False, [0, 0], 1,
                                                   [False, True, False])[1]
    torch.testing.assert_close(weight_gradient(repeats.fold(g, plan.runs), plan.input, plan.pad),
                               weight_gradient(g, full, pad), rtol=1e-4, atol=1e-4)


@pytest.mark.parametrize('channels_last', [False, True])
@pytest.mark.parametrize('seed', range(10))
def test_fold_is_the_adjoint_of_expand(seed, channels_last):
    """<expand(p), g> = <p, fold(g)>: each packed row gets the sum of the diffs of the
    full rows it stands for, in the diff's memory format."""
    rng = np.random.default_rng(seed)
    p = random_packed(rng)
    full = repeats.expand(p)
    g = torch.from_numpy(rng.standard_normal(full.shape))
    if channels_last:
        g = g.contiguous(memory_format=torch.channels_last)
    folded = repeats.fold(g, p.runs)
    assert folded.shape == p.tensor.shape
    assert folded.is_contiguous(memory_format=torch.channels_last if channels_last else torch.contiguous_format)
    torch.testing.assert_close((folded * p.tensor.double()).sum(), (g * full.double()).sum())


@pytest.mark.parametrize('seed', range(60))
def test_ceil_mode_max_pooling_on_packed_maps_equals_the_full_map(seed):
    rng = np.random.default_rng(seed)
    p = random_packed(rng)
    kernel = [int(k) for k in rng.integers(2, 4, 2)]
    stride = [int(s) for s in rng.integers(1, 3, 2)]
    pad = [int(rng.integers(0, k // 2 + 1)) for k in kernel]
    blob, full = packed_blob(p)
    want = F.max_pool2d(full, kernel, stride, pad, ceil_mode=True)
    plan = repeats.plan(blob, kernel, stride, pad, pad_is_zero_run=False)
    if plan is None:  # nothing to leave out
        assert not any(extra for axis in p.runs for _, _, extra in axis)
        return
    got = repeats.expand(plan.output(F.max_pool2d(plan.input, kernel, stride, plan.pad, ceil_mode=True),
                                     want.shape))
    torch.testing.assert_close(got, want, rtol=0, atol=0)


def test_a_wide_zero_padding_becomes_a_run():
    blob = Blob((1, 1, 5, 5))
    blob.data[...] = np.arange(25).reshape(5, 5)
    plan = repeats.plan(blob, [3, 3], [1, 1], [100, 100], pad_is_zero_run=True)
    assert plan.pad == [20, 20]  # a window and some slack; the other 80 are a count
    assert plan.runs[0] == ((0, 17, 80), (25, 42, 80))  # windows wholly inside the zeros
    assert repeats.plan(blob, [3, 3], [1, 1], [1, 1], pad_is_zero_run=True) is None
    assert repeats.plan(blob, [3, 3], [3, 3], [100, 100], pad_is_zero_run=True).pad == [52, 52]


def test_a_packed_blob_expands_for_every_reader():
    p = random_packed(np.random.default_rng(0))
    full = repeats.expand(p).numpy()
    for read in (lambda b: b.data, lambda b: b.read_data(), lambda b: b.tdata.numpy()):
        blob, _ = packed_blob(p)
        np.testing.assert_array_equal(read(blob), full)
        assert blob.packed() is None
    blob, _ = packed_blob(p)
    blob.reshape(full.shape[0], full[0].size)
    np.testing.assert_array_equal(blob.data, full.reshape(full.shape[0], -1))
    blob, _ = packed_blob(p)
    blob.data[0, 0, 0, 0] = 42  # the expanded array is the blob's own, writable
    assert blob.tdata[0, 0, 0, 0] == 42


def test_a_mismatched_output_is_an_error():
    blob, _ = packed_blob(random_packed(np.random.default_rng(1)))
    plan = repeats.plan(blob, [1, 1], [1, 1], [0, 0], pad_is_zero_run=True)
    with pytest.raises(RuntimeError, match='does not make'):
        plan.output(plan.input, (2, 3, 1, 1))


def fcn_like(tmp_path, size=37, force_backward=False):
    """conv (pad 50), ReLU, conv, ReLU, MAX pool, dilated conv, 1 x 1 conv: an FCN's
    layers in small."""
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, size, size]))
    n.conv1 = L.Convolution(n.data, num_output=8, kernel_size=3, pad=50, weight_filler=dict(type='gaussian', std=0.3),
                            bias_filler=dict(type='constant', value=0.2))
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    n.conv2 = L.Convolution(n.relu1, num_output=8, kernel_size=3, pad=1,
                            weight_filler=dict(type='gaussian', std=0.3), bias_filler=dict(type='constant', value=-0.1))
    n.relu2 = L.ReLU(n.conv2)  # not in place: a layer of its own, on the packed map
    n.pool = L.Pooling(n.relu2, pool=caffe.params.Pooling.MAX, kernel_size=2, stride=2)
    n.conv3 = L.Convolution(n.pool, num_output=4, kernel_size=3, dilation=2,
                            weight_filler=dict(type='gaussian', std=0.3))
    n.score = L.Convolution(n.conv3, num_output=2, kernel_size=1, weight_filler=dict(type='gaussian', std=0.3))
    path = tmp_path / 'net.prototxt'
    proto = n.to_proto()
    proto.force_backward = force_backward
    path.write_text(str(proto))
    return caffe.Net(str(path), caffe.TEST)


@pytest.fixture
def strict_afterwards():
    yield
    caffe.set_strict(False)


def test_an_fcn_forward_runs_packed_and_matches_strict(tmp_path, strict_afterwards):
    caffe.set_random_seed(3)
    net = fcn_like(tmp_path)
    net.blobs['data'].data[...] = np.random.default_rng(0).standard_normal(net.blobs['data'].shape)
    names = ['conv1', 'conv2', 'relu2', 'pool', 'conv3', 'score']
    net.forward()
    packed = {name: net.blobs[name].packed() for name in names[:-1]}  # the output is read: expanded
    assert all(packed.values()), packed  # the work was skipped, not only right
    assert packed['conv3'].tensor.shape[2] < net.blobs['conv3'].shape[2] * 0.8
    fast = {name: net.blobs[name].data.copy() for name in names}
    caffe.set_strict()
    net.forward()
    assert all(net.blobs[name].packed() is None for name in names)
    for name in names:
        np.testing.assert_allclose(fast[name], net.blobs[name].data, rtol=1e-5, atol=1e-5)


def test_skipping_repeats_is_a_setting(strict_afterwards, tmp_path):
    net = fcn_like(tmp_path)
    device.set_skip_repeats(False)
    net.forward()
    assert net.blobs['conv1'].packed() is None
    assert 'skipping repeated windows' not in device.describe()
    device.set_skip_repeats(True)
    net.forward()
    assert net.blobs['conv1'].packed() is not None


def test_backward_after_a_packed_forward_matches_strict(tmp_path, strict_afterwards):
    """Layers that take a diff still compute forward packed; backward expands what it
    reads, and MAX pooling finds its argmax in the full input."""
    caffe.set_random_seed(5)
    net = fcn_like(tmp_path, size=21, force_backward=True)
    rng = np.random.default_rng(1)
    net.blobs['data'].data[...] = rng.standard_normal(net.blobs['data'].shape)
    top = rng.standard_normal(net.blobs['score'].shape).astype(np.float32)
    results = []
    for strict in (False, True):
        caffe.set_strict(strict)
        net.clear_param_diffs()
        net.forward()
        assert (net.blobs['pool'].packed() is None) == strict
        net.blobs['score'].diff[...] = top
        net.backward()
        results.append([net.blobs['data'].diff.copy()] + [p.diff.copy() for ps in net.params.values() for p in ps])
    for fast, exact in zip(*results):
        np.testing.assert_allclose(fast, exact, rtol=1e-4, atol=1e-4 * np.abs(exact).max())
