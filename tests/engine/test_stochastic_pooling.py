"""STOCHASTIC pooling, which Caffe implements on the GPU only (the reference pycaffe,
a CPU build, aborts on it): TEST is checked against the GPU kernel's formula written
as plain loops, TRAIN's sampling statistically."""
import numpy as np
import pytest

import torchcaffe as caffe

NET = '''
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: %d dim: %d dim: %d dim: %d } } }
layer { name: "pool" type: "Pooling" bottom: "x" top: "y"
        pooling_param { pool: STOCHASTIC kernel_size: %d stride: %d pad: %d } }
'''


def make_net(tmp_path, shape, kernel, stride, pad, phase):
    path = tmp_path / 'net.prototxt'
    path.write_text('force_backward: true\n' + NET % (tuple(shape) + (kernel, stride, pad)))
    return caffe.Net(str(path), phase)


def loop_reference(x, out, kernel, stride):
    """sum(x^2) / sum(x) over windows starting at multiples of the stride, clipped to the input."""
    n, c, h, w = x.shape
    y = np.zeros((n, c) + tuple(out), np.float64)
    for i in range(out[0]):
        for j in range(out[1]):
            win = x[:, :, i * stride:min(i * stride + kernel, h), j * stride:min(j * stride + kernel, w)]
            s = win.sum((2, 3), dtype=np.float64)
            q = (win.astype(np.float64) ** 2).sum((2, 3))
            y[:, :, i, j] = np.where(s > 0, q / np.where(s > 0, s, 1), 0)
    return y


@pytest.mark.parametrize('shape,kernel,stride,pad', [
    ((2, 3, 6, 7), 3, 2, 0),   # last column window clipped
    ((1, 2, 5, 5), 2, 2, 1),   # padding enlarges the output but not the windows
    ((1, 1, 4, 4), 3, 1, 0),   # overlapping windows
])
def test_test_phase_is_the_weighted_average(tmp_path, shape, kernel, stride, pad):
    net = make_net(tmp_path, shape, kernel, stride, pad, caffe.TEST)
    rng = np.random.RandomState(0)
    x = rng.uniform(0, 1, shape).astype(np.float32)
    x[0, 0, :2, :2] = 0  # an all-zero window outputs 0
    net.blobs['x'].data[...] = x
    net.forward()
    y = net.blobs['y'].data
    np.testing.assert_allclose(y, loop_reference(x, y.shape[2:], kernel, stride), rtol=1e-5, atol=1e-7)


def test_test_phase_backward_reaches_element_zero_only(tmp_path):
    """Caffe's TEST forward never fills the sample indices, which stay 0."""
    net = make_net(tmp_path, (2, 2, 4, 4), 2, 2, 0, caffe.TEST)
    net.blobs['x'].data[...] = np.random.RandomState(1).uniform(0, 1, (2, 2, 4, 4))
    net.forward()
    g = np.random.RandomState(2).normal(size=net.blobs['y'].diff.shape).astype(np.float32)
    net.blobs['y'].diff[...] = g
    net.backward()
    expected = np.zeros((2, 2, 4, 4), np.float32)
    expected[0, 0, 0, 0] = g[0, 0, 0, 0]
    np.testing.assert_array_equal(net.blobs['x'].diff, expected)


def test_train_samples_in_proportion_to_the_values(tmp_path):
    values = np.array([[0.0, 1.0], [2.0, 5.0]], np.float32)
    channels = 40000
    net = make_net(tmp_path, (1, channels, 2, 2), 2, 2, 0, caffe.TRAIN)
    net.blobs['x'].data[...] = values
    net.forward()
    y = net.blobs['y'].data.reshape(-1)
    counts = np.array([(y == v).sum() for v in values.reshape(-1)])
    assert counts.sum() == channels  # every output is one of the window's elements
    p = values.reshape(-1) / values.sum()
    expected = p * channels
    # a zero is never drawn; the rest within 5 standard deviations of the binomial count
    assert counts[0] == 0
    sd = np.sqrt(channels * p * (1 - p))
    assert np.all(np.abs(counts - expected) <= 5 * sd + 1e-9), (counts, expected)
    chi2 = (((counts - expected)[1:] ** 2) / expected[1:]).sum()
    assert chi2 < 18.4  # 2 degrees of freedom, p = 1e-4


def test_train_backward_routes_to_the_sampled_element(tmp_path):
    shape = (2, 3, 5, 6)
    net = make_net(tmp_path, shape, 3, 2, 0, caffe.TRAIN)
    rng = np.random.RandomState(3)
    x = rng.permutation(np.arange(1, np.prod(shape) + 1)).reshape(shape).astype(np.float32)
    net.blobs['x'].data[...] = x  # distinct values: the sampled element is found by value
    net.forward()
    y = net.blobs['y'].data.copy()
    g = rng.normal(size=y.shape).astype(np.float32)
    net.blobs['y'].diff[...] = g
    net.backward()
    expected = np.zeros(shape, np.float64)
    for n, c, i, j in np.ndindex(*y.shape):
        win = x[n, c, 2 * i:2 * i + 3, 2 * j:2 * j + 3]
        hits = np.argwhere(win == y[n, c, i, j])
        assert len(hits) == 1, 'output is not an element of its window'
        a, b = hits[0]
        expected[n, c, 2 * i + a, 2 * j + b] += g[n, c, i, j]
    np.testing.assert_allclose(net.blobs['x'].diff, expected, rtol=1e-6, atol=1e-6)
