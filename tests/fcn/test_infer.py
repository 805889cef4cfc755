"""infer.py: label maps of a deploy net with hand-set weights, and the command on a directory."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

from fcn import backend
from fcn import infer
from fcn import vis

caffe = backend.load()  # FCN_BACKEND=caffe runs these tests on BVLC pycaffe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# The declared 8x8 input is reshaped to each image. score = the B, G, R channels after
# mean subtraction, so the label is the strongest channel: 0 blue, 1 green, 2 red.
DEPLOY = '''
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "score" type: "Convolution" bottom: "data" top: "score"
  convolution_param { num_output: 3 kernel_size: 1 } }
'''


@pytest.fixture
def deploy(tmp_path):
    """(deploy prototxt, caffemodel with the identity weights)."""
    path = tmp_path / 'deploy.prototxt'
    path.write_text(textwrap.dedent(DEPLOY))
    net = caffe.Net(str(path), caffe.TEST)
    net.params['score'][0].data[...] = np.eye(3).reshape(3, 3, 1, 1)
    net.save(str(tmp_path / 'tiny.caffemodel'))
    return str(path), str(tmp_path / 'tiny.caffemodel')


def picture():
    """A 5x7 RGB image: red, green and blue columns, and (R 90, G 0, B 50) pixels."""
    image = np.zeros((5, 7, 3), np.uint8)
    image[:, 0:2] = (200, 10, 10)
    image[:, 2:4] = (10, 200, 10)
    image[:, 4:6] = (10, 10, 200)
    image[:, 6] = (90, 0, 50)
    return image


def test_infer_gives_the_strongest_bgr_channel_after_the_mean(deploy):
    net = caffe.Net(deploy[0], deploy[1], caffe.TEST)
    want = np.repeat([[2, 2, 1, 1, 0, 0, 2]], 5, axis=0)
    label = infer.infer(net, picture(), mean=(0, 0, 0))
    np.testing.assert_array_equal(label, want)
    # mean (B, G, R) = (0, 0, 100): the last column's red 90 drops below its blue 50
    want[:, 6] = 0
    np.testing.assert_array_equal(infer.infer(net, picture(), mean=(0, 0, 100)), want)
    assert net.blobs['data'].data.shape == (1, 3, 5, 7)
    # another size reshapes again
    assert infer.infer(net, np.zeros((3, 4, 3), np.uint8)).shape == (3, 4)


def test_preprocess_is_bgr_minus_mean_channels_first():
    x = infer.preprocess(np.array([[[1, 2, 3]]], np.uint8), mean=(0.5, 1, 1.5))
    assert x.shape == (1, 3, 1, 1) and x.dtype == np.float32
    assert x.ravel().tolist() == [2.5, 1, -0.5]


def test_infer_needs_a_named_score_among_several_outputs(tmp_path):
    path = tmp_path / 'two.prototxt'
    path.write_text(textwrap.dedent(DEPLOY) + '''
layer { name: "score_geo" type: "Convolution" bottom: "data" top: "score_geo"
  convolution_param { num_output: 2 kernel_size: 1 } }
layer { name: "coarse" type: "Pooling" bottom: "data" top: "coarse"
  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }
''')
    net = caffe.Net(str(path), caffe.TEST)
    net.params['score_geo'][0].data[...] = np.array([[1, 0, 0], [0, 0, 1]]).reshape(2, 3, 1, 1)
    with pytest.raises(ValueError, match='name the score blob'):
        infer.infer(net, picture())
    label = infer.infer(net, picture(), mean=(0, 0, 0), score='score_geo')
    np.testing.assert_array_equal(label[0], [1, 1, 0, 0, 0, 0, 1])
    with pytest.raises(ValueError, match="no blob 'nope'"):
        infer.infer(net, picture(), score='nope')
    with pytest.raises(ValueError, match="scores 'coarse' of size"):
        infer.infer(net, picture(), score='coarse')


def test_command_on_a_directory_writes_labels_and_overlays(deploy, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    Image.fromarray(picture()).save(images / 'a.png')
    Image.fromarray(picture()[:, ::-1]).save(images / 'b.bmp')
    (images / 'notes.txt').write_text('not an image')
    out = tmp_path / 'out'
    done = subprocess.run([sys.executable, '-m', 'fcn', 'infer', '--deploy', deploy[0],
                           '--weights', deploy[1], '--mean', '0', '0', '0', '--palette', '3',
                           '--out', str(out), str(images)],
                          capture_output=True, text=True, cwd=str(tmp_path))
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(out)) == ['a.png', 'a_overlay.png', 'b.png', 'b_overlay.png']
    assert '[1/2] %s' % (images / 'a.png') in done.stdout and '[2/2]' in done.stdout
    want = np.repeat([[2, 2, 1, 1, 0, 0, 2]], 5, axis=0)
    np.testing.assert_array_equal(vis.read_label(out / 'a.png'), want)
    np.testing.assert_array_equal(vis.read_label(out / 'b.png'), want[:, ::-1])
    with Image.open(out / 'a.png') as im:
        assert im.mode == 'P'
    with Image.open(out / 'a_overlay.png') as im:
        overlay = np.array(im)
    # palette of 3 classes: class 0 is a class here, so it is painted too
    want_overlay = vis.overlay(picture(), want, vis.make_palette(3), skip=(255,))
    np.testing.assert_array_equal(overlay, want_overlay)


def test_command_on_one_image_with_the_voc_palette(deploy, tmp_path, capsys):
    Image.fromarray(picture()).save(tmp_path / 'photo.jpg', quality=100)
    infer.main(['--deploy', deploy[0], '--weights', deploy[1], '--out', str(tmp_path / 'o'),
                str(tmp_path / 'photo.jpg')])
    assert sorted(os.listdir(tmp_path / 'o')) == ['photo.png', 'photo_overlay.png']
    with Image.open(tmp_path / 'o' / 'photo.png') as im:
        assert np.array(im.getpalette()).reshape(-1, 3)[255].tolist() == [224, 224, 192]
    assert '[1/1]' in capsys.readouterr().out


def test_command_refuses_missing_inputs_and_overwriting(deploy, tmp_path):
    with pytest.raises(SystemExit):
        infer.main(['--deploy', deploy[0], '--weights', deploy[1], str(tmp_path / 'none.jpg')])
    Image.fromarray(picture()).save(tmp_path / 'x.png')
    with pytest.raises(SystemExit, match='would overwrite the input'):
        infer.main(['--deploy', deploy[0], '--weights', deploy[1], '--out', str(tmp_path),
                    str(tmp_path / 'x.png')])
