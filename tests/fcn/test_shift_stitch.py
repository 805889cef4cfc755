"""shift_stitch.py: shift-and-stitch and filter dilation give the naive dense output (section 3.2)."""
import numpy as np
import pytest

from fcn import backend
from fcn.analyses import shift_stitch
from torchcaffe.formats import prototxt
from torchcaffe.net_spec import NetSpec, layers as L, params as P

caffe = backend.load()
H, W = 26, 29        # not multiples of the stride, different on each axis
F, RF = 4, 12        # output stride and receptive field of coarse_net
GAUSS = dict(weight_filler=dict(type='gaussian', std=0.3), bias_filler=dict(type='gaussian', std=0.1))


def coarse_net(shape=(1, 2, H, W), second_pool=False):
    """Output stride 4 from a max pooling and a strided convolution (or a second pooling),
    no padding anywhere."""
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=list(shape)))
    n.conv1 = L.Convolution(n.data, num_output=3, kernel_size=3, **GAUSS)
    n.relu1 = L.ReLU(n.conv1, in_place=True)
    n.pool1 = L.Pooling(n.relu1, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    n.conv2 = L.Convolution(n.pool1, num_output=4, kernel_size=3, **GAUSS)
    n.relu2 = L.ReLU(n.conv2, in_place=True)
    if second_pool:
        n.down3 = L.Pooling(n.relu2, pool=P.Pooling.MAX, kernel_size=3, stride=2)
    else:
        n.down3 = L.Convolution(n.relu2, num_output=4, kernel_size=3, stride=2, **GAUSS)
    n.relu3 = L.ReLU(n.down3, in_place=True)
    n.score = L.Convolution(n.relu3, num_output=5, kernel_size=1, **GAUSS)
    return n.to_proto()


def build(engine, param, tmp_path, name, weights=None):
    path = tmp_path / (name + '.prototxt')
    prototxt.write(str(path), param)
    return engine.Net(str(path), engine.TEST) if weights is None else \
        engine.Net(str(path), str(weights), engine.TEST)


@pytest.fixture
def coarse(tmp_path):
    """(net with random weights, its saved weights, input image)."""
    caffe.set_random_seed(3)
    net = build(caffe, coarse_net(), tmp_path, 'coarse')
    weights = tmp_path / 'coarse.caffemodel'
    net.save(str(weights))
    image = np.random.RandomState(0).randn(1, 2, H, W).astype(np.float32)
    return net, weights, image


def naive_dense(net, image):
    """The net on every RF x RF window of ``image``, one 1 x 1 output each."""
    windows = np.lib.stride_tricks.sliding_window_view(image[0], (RF, RF), axis=(1, 2))
    rows, cols = windows.shape[1:3]
    batch = np.ascontiguousarray(windows.transpose(1, 2, 0, 3, 4).reshape(rows * cols, -1, RF, RF))
    net.blobs['data'].reshape(*batch.shape)
    net.reshape()
    out = net.forward(data=batch)['score']
    assert out.shape[2:] == (1, 1)
    return out[:, :, 0, 0].T.reshape(1, -1, rows, cols)


def test_geometry_of_the_coarse_net():
    geo = shift_stitch.geometry(coarse_net())
    assert geo['score'] == (F, RF, 0)
    assert geo['pool1'] == (2, 4, 0) and geo['data'] == (1, 1, 0)


def test_shift_and_stitch_and_dilation_equal_the_naive_dense_output(coarse, tmp_path):
    net, weights, image = coarse
    naive = naive_dense(build(caffe, coarse_net(), tmp_path, 'naive', weights), image)
    assert naive.shape == (1, 5, H - RF + 1, W - RF + 1)
    stitched = shift_stitch.shift_and_stitch(net, image, F)
    # Rounding up in pooling adds clipped windows at the far border; the rest is exact.
    assert stitched.shape[2] >= naive.shape[2] and stitched.shape[3] >= naive.shape[3]
    np.testing.assert_allclose(stitched[:, :, :H - RF + 1, :W - RF + 1], naive, rtol=1e-5, atol=1e-5)
    dilated = build(caffe, shift_stitch.dilate(coarse_net(), ['pool1', 'down3']), tmp_path, 'dense', weights)
    out = dilated.forward(data=image)['score']
    assert out.shape == naive.shape
    np.testing.assert_allclose(out, naive, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize('destride', [['pool1'], ['down3']])
def test_destriding_one_layer_halves_the_output_stride(coarse, tmp_path, destride):
    """Either subsampling layer alone gives the dense output at stride 2; stitching 2 x 2 shifts
    of that net completes it (the paper's "processing subsampled versions")."""
    net, weights, image = coarse
    dense = naive_dense(build(caffe, coarse_net(), tmp_path, 'naive', weights), image)
    half = build(caffe, shift_stitch.dilate(coarse_net(), destride), tmp_path, 'half', weights)
    assert shift_stitch.geometry(shift_stitch.dilate(coarse_net(), destride))['score'][0] == 2
    want = dense[:, :, ::2, ::2]
    got = half.forward(data=image)['score']  # pool1 at stride 2 may add a clipped window
    assert got.shape[2] - want.shape[2] in (0, 1) and got.shape[3] - want.shape[3] in (0, 1)
    np.testing.assert_allclose(got[:, :, :want.shape[2], :want.shape[3]], want, rtol=1e-5, atol=1e-5)
    stitched = shift_stitch.shift_and_stitch(half, image, 2)
    np.testing.assert_allclose(stitched[:, :, :dense.shape[2], :dense.shape[3]], dense, rtol=1e-5, atol=1e-5)


def test_dilate_rewrites_strides_dilations_and_pads():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 40, 40]))
    n.pool = L.Pooling(n.data, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    n.conv = L.Convolution(n.pool, num_output=1, kernel_size=3, pad=1, stride=2)
    n.fc = L.Convolution(n.conv, num_output=1, kernel_size=3, pad_h=2, pad_w=2, dilation=2)
    net = n.to_proto()
    layers = {layer.name: layer for layer in shift_stitch.dilate(net, ['pool', 'conv']).layer}
    assert layers['pool'].pooling_param.stride == 1
    conv = layers['conv'].convolution_param
    assert (list(conv.stride), list(conv.dilation), list(conv.pad)) == ([], [2], [2])
    fc = layers['fc'].convolution_param
    assert (list(fc.dilation), fc.pad_h, fc.pad_w, fc.HasField('stride_h')) == ([8], 8, 8, False)
    assert not fc.pad  # pad_h/pad_w stay the only pads, as Caffe requires
    assert net.layer[1].pooling_param.stride == 2  # the input is untouched


@pytest.mark.parametrize('destride, message', [
    (['pool1', 'down3'], "pooling layer 'down3' follows a de-strided layer"),
    (['relu1'], "layer 'relu1' is a ReLU"),
    (['nope'], 'no such layer'),
])
def test_dilate_refuses_what_caffe_cannot_express(destride, message):
    with pytest.raises(ValueError, match=message):
        shift_stitch.dilate(coarse_net(second_pool=True), destride)


def test_dilate_refuses_upsampling_after_a_destrided_layer():
    n = NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 40, 40]))
    n.pool = L.Pooling(n.data, pool=P.Pooling.MAX, kernel_size=2, stride=2)
    n.up = L.Deconvolution(n.pool, convolution_param=dict(num_output=1, kernel_size=4, stride=2))
    with pytest.raises(ValueError, match=r"layer 'up' \(Deconvolution\) follows a de-strided layer"):
        shift_stitch.dilate(n.to_proto(), ['pool'])


def test_command_writes_the_dilated_net(tmp_path, capsys):
    prototxt.write(str(tmp_path / 'coarse.prototxt'), coarse_net())
    shift_stitch.main([str(tmp_path / 'coarse.prototxt'), '--destride', 'pool1', 'down3',
                       '--out', str(tmp_path / 'dense.prototxt')])
    out = capsys.readouterr().out
    assert 'pool1                    stride 1' in out and 'down3                    stride 1, dilation 2' in out
    assert 'score                    dilation 4' in out
    written = prototxt.read(str(tmp_path / 'dense.prototxt'), type(coarse_net()))
    assert written == shift_stitch.dilate(coarse_net(), ['pool1', 'down3'])
    with pytest.raises(SystemExit, match="shift_stitch: pooling layer 'down3'"):
        prototxt.write(str(tmp_path / 'pooled.prototxt'), coarse_net(second_pool=True))
        shift_stitch.main([str(tmp_path / 'pooled.prototxt'), '--destride', 'pool1', '--out', str(tmp_path / 'x')])


def test_real_caffe_dilates_as_the_torch_engine_stitches(coarse, tmp_path, pycaffe):
    """Dilation is Caffe's own: the dilated net in BVLC Caffe equals our shift-and-stitch."""
    net, weights, image = coarse
    dilated = build(pycaffe, shift_stitch.dilate(coarse_net(), ['pool1', 'down3']), tmp_path, 'dense', weights)
    stitched = shift_stitch.shift_and_stitch(net, image, F)
    out = dilated.forward(data=image)['score']
    np.testing.assert_allclose(out, stitched[:, :, :out.shape[2], :out.shape[3]], rtol=1e-5, atol=1e-5)
