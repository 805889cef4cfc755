"""torchcaffe.Classifier and torchcaffe.Detector against pycaffe's, on a small net with
random weights (the reference's caffe.io given tests/support/skimage_standin.py)."""
import numpy as np
import pytest
from PIL import Image

import skimage_standin
import torchcaffe

NET = '''name: "tiny"
layer { name: "data" type: "Input" top: "data"
        input_param { shape { dim: 4 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 4 kernel_size: 3
                            weight_filler { type: "gaussian" std: 0.5 }
                            bias_filler { type: "gaussian" std: 0.5 } } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "fc" type: "InnerProduct" bottom: "conv" top: "fc"
        inner_product_param { num_output: 5 weight_filler { type: "gaussian" std: 0.1 } } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
'''
RNG = np.random.default_rng(21)


@pytest.fixture
def model(pycaffe, monkeypatch, tmp_path):
    """(prototxt, caffemodel) of the tiny net, its weights drawn by the reference."""
    skimage_standin.install(pycaffe, monkeypatch)
    proto = tmp_path / 'net.prototxt'
    proto.write_text(NET)
    weights = str(tmp_path / 'net.caffemodel')
    pycaffe.Net(str(proto), pycaffe.TEST).save(weights)
    return str(proto), weights


PREPROCESSING = [
    {},
    {'mean': np.array([0.4, 0.5, 0.6]), 'raw_scale': 2.0, 'channel_swap': (2, 1, 0),
     'input_scale': 1.5},
    {'mean': RNG.random((3, 8, 8))},
]


@pytest.mark.parametrize('options', PREPROCESSING)
@pytest.mark.parametrize('image_dims', [None, (11, 10)])
@pytest.mark.parametrize('oversample', [True, False])
def test_classifier_as_pycaffes(pycaffe, model, options, image_dims, oversample):
    images = [RNG.random((13, 9, 3)).astype(np.float32) for _ in range(3)]
    mine = torchcaffe.Classifier(*model, image_dims=image_dims, **options)
    theirs = pycaffe.Classifier(*model, image_dims=image_dims, **options)
    got = mine.predict(images, oversample=oversample)
    want = theirs.predict(images, oversample=oversample)
    assert got.dtype == want.dtype and got.shape == want.shape == (3, 5)
    np.testing.assert_allclose(got, want, rtol=1e-4, atol=1e-6)
    assert isinstance(mine, torchcaffe.Net) and mine.transformer.transpose == {'data': (2, 0, 1)}


def save_image(path, shape):
    Image.fromarray(RNG.integers(0, 256, shape, dtype=np.uint8)).save(path)
    return str(path)


@pytest.mark.parametrize('options', PREPROCESSING[:2])
def test_detect_windows_as_pycaffes(pycaffe, model, tmp_path, options):
    first, second = save_image(tmp_path / 'a.png', (20, 24, 3)), save_image(tmp_path / 'b.png',
                                                                            (12, 16, 3))
    windows = [(first, np.array([[0, 0, 10, 12], [5, 6, 20, 24], [3, 3, 9, 9]])),
               (second, np.array([[2, 4, 12, 16]]))]
    got = torchcaffe.Detector(*model, **options).detect_windows(windows)
    want = pycaffe.Detector(*model, **options).detect_windows(windows)
    assert [(d['filename'], list(d['window'])) for d in got] == \
        [(d['filename'], list(d['window'])) for d in want]
    assert len(got) == 4
    for mine, theirs in zip(got, want):
        np.testing.assert_allclose(mine['prediction'], theirs['prediction'], rtol=1e-4, atol=1e-6)


def test_context_crop_inside_the_image(model):
    # pycaffe's context crop (its own code slices with floats, which numpy 2 refuses),
    # by its formulas: input 8, context_pad 1, so the box grows by 8 / 6 about its centre:
    # window rows 4..9 -> centre 7, half 3 * 8/6 = 4 -> box 3..11, scaled by 8 / 9 into 8
    det = torchcaffe.Detector(*model, context_pad=1)
    im = RNG.random((20, 20, 3)).astype(np.float32)
    crop = det.crop(im, np.array([4, 4, 9, 9]))
    assert crop.shape == (8, 8, 3)
    np.testing.assert_allclose(crop, im[3:11, 3:11], rtol=1e-6)


def test_context_crop_over_the_border_pads_with_the_mean(model):
    # window 0..5 -> box -1..7: a row and column off the image, round(1 * 8/9) = 1 pixel
    # of padding; the clipped box 0..7 (8 rows, of which slicing takes 7) fills
    # round(8 * 8/9) = 7 rows
    mean = np.array([0.2, 0.4, 0.6])
    det = torchcaffe.Detector(*model, mean=mean, raw_scale=2.0, channel_swap=(2, 1, 0),
                              context_pad=1)
    np.testing.assert_allclose(det.crop_mean.reshape(3), mean[::-1] / 2.0)
    im = RNG.random((20, 20, 3)).astype(np.float32)
    crop = det.crop(im, np.array([0, 0, 5, 5]))
    np.testing.assert_allclose(crop[1:, 1:], im[0:7, 0:7], rtol=1e-6)
    np.testing.assert_allclose(crop[0], np.broadcast_to(mean[::-1] / 2.0, (8, 3)), rtol=1e-6)
    np.testing.assert_allclose(crop[:, 0], np.broadcast_to(mean[::-1] / 2.0, (8, 3)), rtol=1e-6)
    # the padding is the mean in image space: preprocessing makes it zero
    np.testing.assert_allclose(det.transformer.preprocess('data', crop)[:, 0, :], 0, atol=1e-6)


def test_context_crop_without_a_mean_pads_with_zeros(model):
    det = torchcaffe.Detector(*model, context_pad=2)
    crop = det.crop(np.ones((10, 10, 3), dtype=np.float32), np.array([0, 0, 4, 4]))
    assert crop.shape == (8, 8, 3) and crop[0, 0, 0] == 0 and crop[-1, -1, 0] == 1


def test_detector_crop_without_context_is_a_slice(model):
    det = torchcaffe.Detector(*model)
    im = RNG.random((9, 9, 3)).astype(np.float32)
    np.testing.assert_array_equal(det.crop(im, [1, 2, 5, 7]), im[1:5, 2:7])
    assert list(det.crop_dims) == [8, 8, 3] and det.context_pad is None


def test_selective_search_is_not_available(model):
    with pytest.raises(NotImplementedError, match='selective_search_ijcv_with_python'):
        torchcaffe.Detector(*model).detect_selective_search(['a.png'])


def test_reachable_as_pycaffes_names():
    from torchcaffe.classifier import Classifier
    from torchcaffe.detector import Detector
    assert torchcaffe.Classifier is Classifier and torchcaffe.Detector is Detector
    assert {'Classifier', 'Detector'} <= set(dir(torchcaffe)) & set(torchcaffe.__all__)


def test_classifier_takes_image_dims_as_an_array(model):
    # pycaffe's `if not image_dims` cannot take an array; the tuple's result is the answer
    images = [RNG.random((13, 9, 3)).astype(np.float32)]
    as_tuple = torchcaffe.Classifier(*model, image_dims=(11, 10)).predict(images)
    as_array = torchcaffe.Classifier(*model, image_dims=np.array([11, 10])).predict(images)
    np.testing.assert_array_equal(as_array, as_tuple)
