"""fcn.load(...).predict(...): tiny deploy nets with random weights, checked against numpy,
single runs against batches, model cards, errors, and real Caffe where it is built."""
import os
import re
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import fcn
from fcn import backend
from fcn import card
from fcn import vis
from fcn.datasets import VOC_MEAN
from fcn.model import Model

import refcaffe

caffe = backend.load()  # FCN_BACKEND=caffe runs these tests on BVLC pycaffe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

INPUT = '''
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
'''
# scores = W x + b per pixel: what numpy computes by hand
LINEAR = INPUT + '''
layer { name: "score" type: "Convolution" bottom: "data" top: "score"
  convolution_param { num_output: 4 kernel_size: 1 } }
'''
# a 3x3 conv, a pooling and a deconvolution cropped back to the input: an FCN in miniature,
# whose pixels depend on their neighbors (so batching errors would show)
FCN = INPUT + '''
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
  convolution_param { num_output: 4 kernel_size: 3 pad: 1 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
layer { name: "up" type: "Deconvolution" bottom: "pool" top: "up"
  convolution_param { num_output: 3 kernel_size: 4 stride: 2 } }
layer { name: "score" type: "Crop" bottom: "up" bottom: "data" top: "score"
  crop_param { axis: 2 offset: 1 } }
'''


def make_net(tmp_path, text, name='net', seed=0):
    """(deploy prototxt, caffemodel of random weights) for the net ``text``."""
    deploy = tmp_path / (name + '.prototxt')
    deploy.write_text(textwrap.dedent(text))
    net = caffe.Net(str(deploy), caffe.TEST)
    rng = np.random.RandomState(seed)
    for params in net.params.values():
        for p in params:
            p.data[...] = rng.normal(0, 0.05, p.data.shape)
    weights = tmp_path / (name + '.caffemodel')
    net.save(str(weights))
    return str(deploy), str(weights)


@pytest.fixture
def linear(tmp_path):
    return make_net(tmp_path, LINEAR, 'linear')


@pytest.fixture
def small_fcn(tmp_path):
    return make_net(tmp_path, FCN, 'fcn')


def image(h=5, w=7, seed=1):
    return np.random.RandomState(seed).randint(0, 256, (h, w, 3)).astype(np.uint8)


def by_hand(weights_of, rgb, mean, bgr=True):
    """The 1x1 conv's scores (K x H x W) computed in numpy from the net's own parameters."""
    w, b = (p.data for p in weights_of.params['score'])
    x = rgb.astype(np.float64)[:, :, ::-1] if bgr else rgb.astype(np.float64)
    x = (x - np.asarray(mean)).transpose(2, 0, 1)
    return np.einsum('kc,chw->khw', w[:, :, 0, 0], x) + b[:, None, None]


def test_three_lines(small_fcn, tmp_path):
    Image.fromarray(image()).save(tmp_path / 'photo.png')
    model = fcn.load(*small_fcn)
    labels = model.predict(str(tmp_path / 'photo.png'))
    assert labels.shape == (5, 7) and labels.dtype == np.uint8
    assert model.classes == ['0', '1', '2']
    np.testing.assert_array_equal(model.palette, vis.make_palette(3))
    np.testing.assert_allclose(model.mean, VOC_MEAN, rtol=1e-6)
    assert model.net.blobs['score'].data.shape == (1, 3, 5, 7)


def test_import_fcn_stays_light():
    code = 'import sys, fcn; print(fcn.REPO, sorted(m for m in ("torch", "fcn.model") if m in sys.modules))'
    done = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == [ROOT, '[]']


def test_path_pil_and_array_give_the_same_labels(small_fcn, tmp_path):
    model = fcn.load(*small_fcn, mean=(0, 0, 0))
    rgb = image()
    Image.fromarray(rgb).save(tmp_path / 'a.png')
    want = model.predict(rgb)
    assert len(np.unique(want)) > 1  # random weights that label everything alike would prove little
    np.testing.assert_array_equal(model.predict(str(tmp_path / 'a.png')), want)
    np.testing.assert_array_equal(model.predict(tmp_path / 'a.png'), want)  # a PathLike
    np.testing.assert_array_equal(model.predict(Image.fromarray(rgb)), want)
    # a PIL image in another mode is converted to RGB first
    np.testing.assert_array_equal(model.predict(Image.fromarray(rgb).convert('RGBA')), want)


def test_bgr_and_mean_are_applied_as_numpy_computes_them(linear):
    mean = (10, 120, 250)
    model = fcn.load(*linear, mean=mean)
    rgb = image(6, 4)
    scores = by_hand(model.net, rgb, mean)
    proba = model.predict_proba(rgb)
    e = np.exp(scores - scores.max(0))
    np.testing.assert_allclose(proba, e / e.sum(0), atol=1e-5)
    np.testing.assert_array_equal(model.predict(rgb), scores.argmax(0))
    assert not np.allclose(scores, by_hand(model.net, rgb, mean, bgr=False), atol=1e-3)  # order matters
    x = model.preprocess(rgb)
    assert x.shape == (3, 6, 4) and x.dtype == np.float32
    np.testing.assert_array_equal(x[:, 0, 0], rgb[0, 0, ::-1] - np.float32(mean))


def test_predict_proba_is_a_distribution_over_classes(small_fcn):
    model = fcn.load(*small_fcn)
    proba = model.predict_proba(image())
    assert proba.shape == (3, 5, 7) and proba.dtype == np.float32
    np.testing.assert_allclose(proba.sum(0), 1, atol=1e-6)
    assert (proba >= 0).all()
    np.testing.assert_array_equal(proba.argmax(0), model.predict(image()))
    assert isinstance(model.predict_proba([image()]), list)


def test_batches_give_what_each_image_gets_alone(small_fcn):
    model = fcn.load(*small_fcn, mean=(0, 0, 0))
    images = [image(6, 8, 1), image(5, 7, 2), image(6, 8, 3), image(5, 7, 4), image(6, 8, 5)]
    alone = [model.predict_proba(im) for im in images]
    # the same sizes share passes wherever they stand in the list; no image is resized
    passes = [(indices, scores.shape) for indices, _, scores in model.batches(images, batch=2)]
    assert passes == [([0, 2], (2, 3, 6, 8)), ([4], (1, 3, 6, 8)), ([1, 3], (2, 3, 5, 7))]
    batched = model.predict_proba(images, batch=2)
    labels = model.predict(images, batch=3)
    assert [p.shape for p in batched] == [(3, 6, 8), (3, 5, 7), (3, 6, 8), (3, 5, 7), (3, 6, 8)]
    for one, many, label in zip(alone, batched, labels):
        np.testing.assert_allclose(many, one, atol=1e-6)
        np.testing.assert_array_equal(label, one.argmax(0))
    assert not np.allclose(batched[0], batched[2], atol=1e-3)  # the order is kept, not just the shapes
    assert model.predict([]) == []
    with pytest.raises(ValueError, match='batch must be a positive integer'):
        model.predict(images, batch=0)


def test_many_classes_give_wider_labels(tmp_path):
    deploy, weights = make_net(tmp_path, LINEAR.replace('num_output: 4', 'num_output: 300'))
    model = fcn.load(deploy, weights)
    labels = model.predict(image(3, 4))
    assert labels.dtype == np.int64 and labels.max() < 300 and len(model.classes) == 300


def test_a_run_directory_card_brings_its_mean_classes_and_palette(linear, tmp_path):
    run = tmp_path / 'run'
    run.mkdir()
    mean, palette = (50, 60, 70), [[1, 2, 3], [4, 5, 6], [7, 8, 9], [10, 11, 12]]
    card.write(run, ['sky', 'tree', 'road', 'car'], mean, palette, *linear)
    rgb = image(4, 6)
    for where in (run, run / 'model.json', str(run)):
        model = fcn.load(where)
        assert model.classes == ['sky', 'tree', 'road', 'car']
        assert model.palette.tolist() == palette and model.mean.tolist() == list(mean)
        np.testing.assert_array_equal(model.predict(rgb), by_hand(model.net, rgb, mean).argmax(0))
    # arguments override the card
    assert fcn.load(run, mean=(0, 0, 0)).mean.tolist() == [0, 0, 0]
    # an RGB card: the model leaves the channels in order
    rgb_run = tmp_path / 'rgb'
    rgb_run.mkdir()
    card.write(rgb_run, ['a', 'b', 'c', 'd'], mean, palette, *linear, channel_order='RGB')
    model = fcn.load(rgb_run)
    proba = model.predict_proba(rgb)
    scores = by_hand(model.net, rgb, mean, bgr=False)
    np.testing.assert_allclose(proba, np.exp(scores) / np.exp(scores).sum(0), atol=1e-5)


def test_colorize_and_overlay_use_the_palette(linear):
    model = fcn.load(*linear, palette=[[255, 0, 0], [0, 255, 0], [0, 0, 255], [9, 9, 9]])
    labels = np.array([[0, 1], [3, 255]], np.uint8)
    assert model.colorize(labels).tolist() == [[[255, 0, 0], [0, 255, 0]], [[9, 9, 9], [224, 224, 192]]]
    rgb = np.full((2, 2, 3), 100, np.uint8)
    over = model.overlay(rgb, labels, alpha=0.5)
    assert over[0, 0].tolist() == [178, 50, 50] and over[1, 1].tolist() == [100, 100, 100]  # void unpainted
    voc = fcn.load(*linear, palette='voc')
    assert voc.overlay(rgb, labels)[0, 0].tolist() == [100, 100, 100]  # VOC's background too


def test_errors_say_what_is_wrong(linear, tmp_path):
    with pytest.raises(FileNotFoundError, match='no weights file .*nope.caffemodel'):
        fcn.load(linear[0], str(tmp_path / 'nope.caffemodel'))
    with pytest.raises(FileNotFoundError, match='no deploy prototxt file .*nope.prototxt'):
        fcn.load(str(tmp_path / 'nope.prototxt'), linear[1])
    with pytest.raises(ValueError, match='give its weights too'):
        fcn.load(linear[0])
    with pytest.raises(card.CardError, match='no model card'):
        fcn.load(tmp_path)
    two = make_net(tmp_path, LINEAR + '''
layer { name: "input2" type: "Input" top: "depth" input_param { shape { dim: 1 dim: 1 dim: 8 dim: 8 } } }
''', 'two')
    with pytest.raises(ValueError, match=r'a single image input, not 2 \(data, depth\)'):
        fcn.load(*two)
    gray = make_net(tmp_path, LINEAR.replace('dim: 3 dim: 8', 'dim: 1 dim: 8'), 'gray')
    with pytest.raises(ValueError, match='does not take a 3-channel image'):
        fcn.load(*gray)
    coarse = make_net(tmp_path, LINEAR.replace('kernel_size: 1', 'kernel_size: 1 stride: 2'), 'coarse')
    model = fcn.load(*coarse)
    with pytest.raises(ValueError, match=r"scores 'score' of size \(3, 4\) for an image of size \(5, 7\)"):
        model.predict(image())
    with pytest.raises(ValueError, match='3 class names for the 4 channels'):
        fcn.load(*linear, classes=['a', 'b', 'c'])
    with pytest.raises(ValueError, match='the palette has 2 colors for 4 classes'):
        fcn.load(*linear, palette=2)
    with pytest.raises(ValueError, match="device must be 'cpu', 'cuda' or 'cuda:N'"):
        fcn.load(*linear, device='gpu0')
    model = fcn.load(*linear)
    with pytest.raises(ValueError, match=r'H x W x 3 RGB array, not an array of shape \(5, 7\)'):
        model.predict(np.zeros((5, 7), np.uint8))
    with pytest.raises(FileNotFoundError, match='no image file .*missing.png'):
        model.predict(str(tmp_path / 'missing.png'))


def test_a_pass_that_would_not_fit_in_memory_is_refused_before_it_allocates(tmp_path, monkeypatch):
    import fcn.model
    assert fcn.model.free_memory('cpu') > 0  # Linux's MemAvailable
    monkeypatch.setattr(fcn.model, 'free_memory', lambda device: 2 ** 30)
    wide = fcn.load(*make_net(tmp_path, LINEAR.replace('num_output: 4', 'num_output: 300'), 'wide'))
    big = str(tmp_path / 'big.png')
    Image.new('RGB', (1000, 900)).save(big)
    with pytest.raises(ValueError, match=r'^%s: a forward pass of 1 image\(s\) of 1000x900 needs about 1.0 GB for '
                       r"the net's blobs, and 1.0 GB is free \(cpu\): use smaller images" % re.escape(big)):
        wide.predict(big)
    assert wide.predict(image()).shape == (5, 7)  # the net is fine for images that fit


def test_an_image_beyond_pillows_pixel_limit_is_named(linear, tmp_path):
    bomb = str(tmp_path / 'bomb.png')
    Image.new('1', (13400, 13400)).save(bomb)  # a small file of many pixels
    with pytest.raises(ValueError, match=r'^cannot read image %s: Image size \(179560000 pixels\) exceeds limit'
                       % re.escape(bomb)):
        fcn.load(*linear).predict(bomb)


def test_a_model_wraps_a_net_in_memory(linear):
    net = caffe.Net(linear[0], caffe.TEST)
    net.params['score'][0].data[...] = 0
    net.params['score'][1].data[...] = [0, 0, 1, 0]
    model = Model(net, mean=(0, 0, 0))
    assert (model.predict(image()) == 2).all()


CAFFE_PREDICT = '''
import sys
import numpy as np
import fcn
model = fcn.load(sys.argv[1], sys.argv[2], backend='caffe')
assert type(model.net).__module__.startswith('caffe'), type(model.net)  # BVLC's, not torchcaffe's
np.save(sys.argv[4], model.predict_proba(sys.argv[3]))
'''


def test_the_caffe_backend_gives_the_same_labels(pycaffe, small_fcn, tmp_path):
    Image.fromarray(image(9, 11)).save(tmp_path / 'photo.png')
    out = str(tmp_path / 'caffe.npy')
    done = subprocess.run([sys.executable, '-c', CAFFE_PREDICT, small_fcn[0], small_fcn[1],
                           str(tmp_path / 'photo.png'), out],
                          env=dict(refcaffe.env(), FCN_BACKEND='caffe'), capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    theirs = np.load(out)
    ours = fcn.load(*small_fcn).predict_proba(str(tmp_path / 'photo.png'))
    np.testing.assert_allclose(ours, theirs, atol=1e-5)
    np.testing.assert_array_equal(ours.argmax(0), theirs.argmax(0))
