"""torchcaffe.io against pycaffe's caffe.io: the reference itself where it runs (its
scikit-image parts given a scipy stand-in, tests/support/skimage_standin.py), pycaffe's
own test file, and scikit-image's documented formulas for what only it computes."""
import numpy as np
import pytest
from PIL import Image

import skimage_standin
from torchcaffe import io
from torchcaffe.proto import caffe_pb2

RNG = np.random.default_rng(20)


@pytest.fixture
def ref(pycaffe, monkeypatch):
    """Reference pycaffe, with the stand-in for scikit-image."""
    skimage_standin.install(pycaffe, monkeypatch)
    return pycaffe


# -- Datums and blob lists ---------------------------------------------------------

@pytest.mark.parametrize('dtype', [np.float32, np.float64, np.int64])
@pytest.mark.parametrize('label', [None, 0, 7])
def test_array_to_datum_as_pycaffe(ref, dtype, label):
    arr = (RNG.random((3, 4, 5)) * 255).astype(dtype)
    mine, theirs = io.array_to_datum(arr, label), ref.io.array_to_datum(arr, label)
    assert mine.SerializeToString() == theirs.SerializeToString()
    got, want = io.datum_to_array(mine), ref.io.datum_to_array(theirs)
    assert got.dtype == want.dtype and got.shape == want.shape
    np.testing.assert_array_equal(got, want)


@pytest.mark.parametrize('label', [None, 3])
def test_uint8_datums_hold_bytes(label):
    # pycaffe's own uint8 path calls ndarray.tostring, gone from numpy 2: its documented
    # behaviour instead (the bytes in ``data``, C x H x W; uint8 back)
    arr = RNG.integers(0, 256, (3, 4, 5), dtype=np.uint8)
    datum = io.array_to_datum(arr, label)
    assert (datum.channels, datum.height, datum.width) == arr.shape
    assert datum.data == arr.tobytes() and not len(datum.float_data)
    assert datum.HasField('label') == (label is not None) and datum.label == (label or 0)
    back = io.datum_to_array(datum)
    assert back.dtype == np.uint8 and back.flags.writeable
    np.testing.assert_array_equal(back, arr)


@pytest.mark.parametrize('shape', [(4,), (2, 3), (1, 2, 3, 4)])
def test_array_to_datum_wants_3_axes(ref, shape):
    for module in (io, ref.io):
        with pytest.raises(ValueError, match='Incorrect array shape.'):
            module.array_to_datum(np.zeros(shape))


def test_blobprotovector_strings_as_pycaffe(ref):
    arrays = [RNG.standard_normal(s).astype(np.float32) for s in [(2, 3), (4,), (1, 2, 3, 2)]]
    mine = io.arraylist_to_blobprotovector_str(arrays)
    theirs = ref.io.arraylist_to_blobprotovector_str(arrays)
    assert caffe_pb2.BlobProtoVector.FromString(mine) == \
        caffe_pb2.BlobProtoVector.FromString(theirs)
    for got, want in zip(io.blobprotovector_str_to_arraylist(theirs),
                         ref.io.blobprotovector_str_to_arraylist(mine)):
        np.testing.assert_array_equal(got, want)


# -- oversample, resize_image ------------------------------------------------------

@pytest.mark.parametrize('im_shape, crop', [((10, 12, 3), (6, 8)), ((9, 11, 1), (4, 4)),
                                            ((7, 7, 2), (7, 7)), ((256, 256, 3), (227, 227))])
def test_oversample_as_pycaffe(ref, im_shape, crop):
    images = RNG.random((2,) + im_shape).astype(np.float32)
    got = io.oversample(images, crop)
    assert got.dtype == np.float32 and got.shape == (20,) + tuple(crop) + im_shape[2:]
    np.testing.assert_array_equal(got, ref.io.oversample(images, crop))
    np.testing.assert_array_equal(io.oversample(list(images), np.array(crop)), got)


@pytest.mark.parametrize('channels', [2, 4, 5])
@pytest.mark.parametrize('order', [0, 1, 3])
@pytest.mark.parametrize('dims', [(10, 4), (3, 3), (12, 14)])
def test_resize_image_zoom_path_as_pycaffe(ref, channels, order, dims):
    im = RNG.random((6, 7, channels)).astype(np.float32) * 4 - 1
    got = io.resize_image(im, dims, order)
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, ref.io.resize_image(im, dims, order))


@pytest.mark.parametrize('channels', [1, 3])
@pytest.mark.parametrize('order', [0, 1])
@pytest.mark.parametrize('dims', [(17, 19), (40, 50), (5, 6), (34, 7), (1, 1), (2, 3)])
def test_resize_image_as_pycaffe(ref, channels, order, dims):
    # shrinking blurs first (scikit-image's anti-aliasing); values outside read as the minimum
    im = RNG.random((17, 19, channels)).astype(np.float32) * 200 - 50
    got = io.resize_image(im, dims, order)
    want = ref.io.resize_image(im, dims, order)
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=0, atol=250 * 1e-6)


@pytest.mark.parametrize('channels', [1, 3])
def test_resize_image_of_a_constant_image_as_pycaffe(ref, channels):
    im = np.full((5, 4, channels), 3.5, dtype=np.float32)
    got = io.resize_image(im, (7, 2))
    assert got.dtype == np.float32
    np.testing.assert_array_equal(got, ref.io.resize_image(im, (7, 2)))


def test_resize_image_cubic_is_catmull_rom():
    # scikit-image's order 3 is cubic convolution (Keys, a = -0.5): it passes through
    # the pixels and reproduces straight lines away from the (zero) border
    ramp = np.tile(np.arange(12, dtype=np.float32)[None, :, None], (4, 1, 1))
    up = io.resize_image(ramp, (4, 36), interp_order=3)  # x_in = (x_out - 1) / 3
    np.testing.assert_allclose(up[:, 1::3, 0], ramp[:, :, 0], atol=2e-6)
    x_in = (np.arange(36) - 1) / 3
    inner = (x_in >= 1) & (x_in <= 10)
    np.testing.assert_allclose(up[:, inner, 0], np.broadcast_to(x_in[inner], (4, inner.sum())),
                               atol=1e-5)


def test_resize_image_cubic_reads_zeros_beyond_the_border():
    # Catmull-Rom weights at t = 2/3 beyond pixel 0 (tap -1 reads 0, the image's minimum)
    t = 2 / 3
    weights = [(-t + 2 * t ** 2 - t ** 3) / 2, 1 + (-5 * t ** 2 + 3 * t ** 3) / 2,
               (t + 4 * t ** 2 - 3 * t ** 3) / 2, (t ** 3 - t ** 2) / 2]
    row = np.array([0, 1, 0.5, 0.25, 0.75, 1], dtype=np.float32)
    im = np.tile(row[None, :, None], (2, 1, 1))
    up = io.resize_image(im, (2, 18), interp_order=3)  # output 0 samples x = -1/3
    want = sum(w * v for w, v in zip(weights, [0.0, 0.0, row[0], row[1]]))  # taps -2..1
    np.testing.assert_allclose(up[:, 0, 0], max(want, 0.0), atol=1e-6)


@pytest.mark.parametrize('order', [2, 4, 5])
def test_resize_image_spline_orders_pass_through_the_pixels(order):
    # scikit-image hands these orders to scipy's prefiltered splines, which interpolate
    im = RNG.random((6, 8, 3)).astype(np.float32)
    up = io.resize_image(im, (18, 24), interp_order=order)  # pixel k lands on output 3k + 1
    assert up.dtype == np.float32 and up.shape == (18, 24, 3)
    np.testing.assert_allclose(up[4:-4:3, 4:-4:3], im[1:-1, 1:-1], atol=1e-5)


def test_resize_image_rejects_unknown_orders():
    with pytest.raises(ValueError, match='interp_order'):
        io.resize_image(RNG.random((4, 4, 3)), (8, 8), interp_order=6)


# -- Transformer -------------------------------------------------------------------

def transformers(ref, shape=(2, 3, 6, 5)):
    return io.Transformer({'data': shape}), ref.io.Transformer({'data': shape})


@pytest.mark.parametrize('steps', [
    {},
    {'set_transpose': (2, 0, 1)},
    {'set_transpose': (2, 0, 1), 'set_channel_swap': (2, 1, 0), 'set_raw_scale': 255.0,
     'set_mean': np.array([104.0, 117.0, 123.0]), 'set_input_scale': 0.017},
    {'set_transpose': (2, 0, 1), 'set_mean': RNG.random((3, 6, 5)) * 100},
    {'set_transpose': (2, 0, 1), 'set_raw_scale': 2, 'set_mean': RNG.random((3, 12, 10))},
])
@pytest.mark.parametrize('size', [(6, 5), (9, 4)])
def test_transformer_as_pycaffe(ref, steps, size):
    mine, theirs = transformers(ref)
    for t in (mine, theirs):
        for step, value in steps.items():
            getattr(t, step)('data', value)
    if 'set_transpose' not in steps:
        image = RNG.random(size + (6,)).astype(np.float32)  # H x W x K as the input's shape
        if size != (6, 5):
            return  # nothing to resize to: the input is not an image
    else:
        image = RNG.random(size + (3,)).astype(np.float32)
    kept = image.copy()
    got, want = mine.preprocess('data', image), theirs.preprocess('data', image.copy())
    np.testing.assert_array_equal(image, kept)  # the caller's image is left alone
    assert got.dtype == want.dtype == np.float32 and got.shape == want.shape
    np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-4)
    if 'set_mean' in steps and steps['set_mean'].ndim > 1:
        np.testing.assert_allclose(mine.mean['data'], theirs.mean['data'], rtol=1e-6)
    back, want_back = mine.deprocess('data', want[None]), theirs.deprocess('data', want[None])
    assert back.dtype == want_back.dtype and back.shape == want_back.shape
    np.testing.assert_allclose(back, want_back, rtol=1e-6, atol=1e-6)


def test_transformer_with_a_2d_mean_as_pycaffe(ref):
    # one channel: an H x W mean is the K x H x W one (pycaffe cannot resize it)
    mine, theirs = transformers(ref, (1, 1, 6, 5))
    mean = RNG.random((6, 5))
    for t in (mine, theirs):
        t.set_transpose('data', (2, 0, 1))
        t.set_mean('data', mean)
        t.set_raw_scale('data', 4.0)
    image = RNG.random((6, 5, 1)).astype(np.float32)
    np.testing.assert_array_equal(mine.preprocess('data', image), theirs.preprocess('data', image))


@pytest.mark.parametrize('call, args, error', [
    ('preprocess', ('label', np.zeros((6, 5, 3))), Exception),
    ('deprocess', ('label', np.zeros((3, 6, 5))), Exception),
    ('set_transpose', ('data', (1, 0)), Exception),
    ('set_channel_swap', ('data', (1, 0)), Exception),
    ('set_raw_scale', ('nope', 1.0), Exception),
    ('set_input_scale', ('nope', 1.0), Exception),
    ('set_mean', ('data', np.zeros(4)), ValueError),
    ('set_mean', ('data', np.zeros((1, 3, 6, 5))), ValueError),
])
def test_transformer_errors_as_pycaffe(ref, call, args, error):
    messages = []
    for t in transformers(ref):
        with pytest.raises(error) as raised:
            getattr(t, call)(*args)
        messages.append((type(raised.value), str(raised.value)))
    assert messages[0] == messages[1]


# -- load_image ----------------------------------------------------------------------

def save(tmp_path, array, mode, name='im.png'):
    path = tmp_path / name
    pil = Image.fromarray(array, mode) if mode else Image.fromarray(array)
    pil.save(path)
    return str(path)


def test_load_image_rgb(tmp_path):
    pixels = RNG.integers(0, 256, (5, 7, 3), dtype=np.uint8)
    img = io.load_image(save(tmp_path, pixels, None))
    assert img.dtype == np.float32 and img.shape == (5, 7, 3)
    np.testing.assert_array_equal(img, (pixels / 255.0).astype(np.float32))


def test_load_image_gray_in_color_and_not(tmp_path):
    pixels = RNG.integers(0, 256, (5, 7), dtype=np.uint8)
    path = save(tmp_path, pixels, None)
    want = (pixels / 255.0).astype(np.float32)
    np.testing.assert_array_equal(io.load_image(path), np.dstack([want] * 3))
    gray = io.load_image(path, color=False)
    assert gray.dtype == np.float32 and gray.shape == (5, 7, 1)
    np.testing.assert_array_equal(gray[:, :, 0], want)


def test_load_image_color_to_gray_is_rgb2gray(tmp_path):
    pixels = RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    gray = io.load_image(save(tmp_path, pixels, None), color=False)
    want = (pixels / 255.0) @ np.array([0.2125, 0.7154, 0.0721])  # scikit-image's weights
    assert gray.shape == (4, 6, 1)
    np.testing.assert_allclose(gray[:, :, 0], want, rtol=1e-6)


def test_load_image_drops_alpha(tmp_path):
    pixels = RNG.integers(0, 256, (4, 6, 4), dtype=np.uint8)
    img = io.load_image(save(tmp_path, pixels, 'RGBA'))
    np.testing.assert_array_equal(img, (pixels[:, :, :3] / 255.0).astype(np.float32))


def test_load_image_16_bit_scales_by_65535(tmp_path):
    pixels = RNG.integers(0, 65536, (3, 5), dtype=np.uint16)
    img = io.load_image(save(tmp_path, pixels, None), color=False)
    np.testing.assert_allclose(img[:, :, 0], pixels / 65535.0, rtol=1e-7)


def test_load_image_palette_as_rgb(tmp_path):
    pixels = RNG.integers(0, 256, (4, 6, 3), dtype=np.uint8)
    pil = Image.fromarray(pixels).convert('P', palette=Image.Palette.ADAPTIVE, colors=8)
    pil.save(tmp_path / 'p.png')
    want = np.asarray(pil.convert('RGB')) / 255.0
    np.testing.assert_array_equal(io.load_image(str(tmp_path / 'p.png')), want.astype(np.float32))
