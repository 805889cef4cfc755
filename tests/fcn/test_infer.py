"""fcn infer: label maps of a deploy net with hand-set weights, the command on a directory, a
model card, batches, and its refusals to overwrite."""
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

import fcn
from fcn import backend
from fcn import card
from fcn import infer
from fcn import vis
from fcn.model import Model

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


def test_a_model_gives_the_strongest_bgr_channel_after_the_mean(deploy):
    net = caffe.Net(deploy[0], deploy[1], caffe.TEST)
    want = np.repeat([[2, 2, 1, 1, 0, 0, 2]], 5, axis=0)
    label = Model(net, mean=(0, 0, 0)).predict(picture())
    np.testing.assert_array_equal(label, want)
    # mean (B, G, R) = (0, 0, 100): the last column's red 90 drops below its blue 50
    want[:, 6] = 0
    np.testing.assert_array_equal(Model(net, mean=(0, 0, 100)).predict(picture()), want)
    assert net.blobs['data'].data.shape == (1, 3, 5, 7)
    # another size reshapes again
    assert Model(net).predict(np.zeros((3, 4, 3), np.uint8)).shape == (3, 4)


def test_preprocess_is_bgr_minus_mean_channels_first(deploy):
    x = fcn.load(*deploy, mean=(0.5, 1, 1.5)).preprocess(np.array([[[1, 2, 3]]], np.uint8))
    assert x.shape == (3, 1, 1) and x.dtype == np.float32
    assert x.ravel().tolist() == [2.5, 1, -0.5]


def test_a_model_needs_a_named_score_among_several_outputs(tmp_path):
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
        Model(net)
    label = Model(net, mean=(0, 0, 0), score='score_geo').predict(picture())
    np.testing.assert_array_equal(label[0], [1, 1, 0, 0, 0, 0, 1])
    with pytest.raises(ValueError, match="no blob 'nope'"):
        Model(net, score='nope')
    with pytest.raises(ValueError, match="scores 'coarse' of size"):
        Model(net, score='coarse').predict(picture())


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


def test_command_batches_images_of_one_size(deploy, tmp_path):
    images = tmp_path / 'images'
    images.mkdir()
    small = picture()[:3, :4]  # another size
    for name, rgb in (('a.png', picture()), ('b.png', small), ('c.png', picture()[:, ::-1])):
        Image.fromarray(rgb).save(images / name)
    out = tmp_path / 'out'
    done = subprocess.run([sys.executable, '-m', 'fcn', 'infer', '--deploy', deploy[0],
                           '--weights', deploy[1], '--mean', '0', '0', '0', '--batch', '2',
                           '--out', str(out), str(images)],
                          capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0, done.stderr
    assert sorted(os.listdir(out)) == ['a.png', 'a_overlay.png', 'b.png', 'b_overlay.png',
                                       'c.png', 'c_overlay.png']
    # a and c (5x7) share the first pass, b (3x4) comes after: one line per image
    lines = done.stdout.splitlines()
    order = ((1, 'a.png'), (2, 'c.png'), (3, 'b.png'))
    assert [line.split()[:4] for line in lines] == [['[%d/3]' % i, str(images / n), '->', str(out / n)]
                                                    for i, n in order]
    assert '(7x5, ' in lines[0] and '(4x3, ' in lines[2]
    want = np.repeat([[2, 2, 1, 1, 0, 0, 2]], 5, axis=0)
    np.testing.assert_array_equal(vis.read_label(out / 'a.png'), want)
    np.testing.assert_array_equal(vis.read_label(out / 'c.png'), want[:, ::-1])
    np.testing.assert_array_equal(vis.read_label(out / 'b.png'), [[2, 2, 1, 1]] * 3)


def test_command_with_a_model_card_uses_its_mean_and_palette(deploy, tmp_path, capsys):
    run = tmp_path / 'run'
    run.mkdir()
    palette = [[10, 20, 30], [40, 50, 60], [70, 80, 90]]
    # mean (B, G, R) = (0, 0, 100), as in the first test: the last column turns blue (0)
    card.write(run, ['blue', 'green', 'red'], (0, 0, 100), palette, *deploy)
    Image.fromarray(picture()).save(tmp_path / 'photo.png')
    infer.main(['--model', str(run), '--out', str(tmp_path / 'o'), str(tmp_path / 'photo.png')])
    want = np.repeat([[2, 2, 1, 1, 0, 0, 0]], 5, axis=0)
    np.testing.assert_array_equal(vis.read_label(tmp_path / 'o' / 'photo.png'), want)
    with Image.open(tmp_path / 'o' / 'photo.png') as im:
        assert np.array(im.getpalette()).reshape(-1, 3)[:3].tolist() == palette
    with Image.open(tmp_path / 'o' / 'photo_overlay.png') as im:
        # not VOC's palette: class 0 is painted too
        np.testing.assert_array_equal(np.array(im), vis.overlay(picture(), want, palette, skip=(255,)))
    assert '[1/1] %s -> ' % (tmp_path / 'photo.png') in capsys.readouterr().out
    with pytest.raises(SystemExit):
        infer.main(['--model', str(run), '--deploy', deploy[0], str(tmp_path / 'photo.png')])
    with pytest.raises(SystemExit, match='no model card'):
        infer.main(['--model', str(tmp_path), '--out', str(tmp_path / 'p'), str(tmp_path / 'photo.png')])


def test_command_never_replaces_a_file_unless_asked(deploy, tmp_path):
    Image.fromarray(picture()).save(tmp_path / 'x.png')
    out = tmp_path / 'out'
    out.mkdir()
    (out / 'x_overlay.png').write_bytes(b'mine')  # a file of the user's, not an input
    command = ['--deploy', deploy[0], '--weights', deploy[1], '--out', str(out), str(tmp_path / 'x.png')]
    with pytest.raises(SystemExit, match=r'1 output file\(s\) exist already \(.*x_overlay.png\); add --overwrite'):
        infer.main(command)
    assert os.listdir(out) == ['x_overlay.png'] and (out / 'x_overlay.png').read_bytes() == b'mine'
    infer.main(command + ['--overwrite'])
    assert sorted(os.listdir(out)) == ['x.png', 'x_overlay.png'] and (out / 'x_overlay.png').read_bytes() != b'mine'
    with pytest.raises(SystemExit, match='would overwrite the input'):  # never an input, even when asked
        infer.main(['--deploy', deploy[0], '--weights', deploy[1], '--out', str(tmp_path), '--overwrite',
                    str(tmp_path / 'x.png')])


def test_command_checks_every_output_before_writing_any(deploy, tmp_path):
    (tmp_path / 'in').mkdir()
    (tmp_path / 'out').mkdir()
    Image.fromarray(picture()).save(tmp_path / 'in' / 'a.png')
    Image.fromarray(picture()).save(tmp_path / 'out' / 'b.png')
    # b, second, would be overwritten: a, first, is not written either
    with pytest.raises(SystemExit, match=r'b.png would overwrite the input .*out/b.png'):
        infer.main(['--deploy', deploy[0], '--weights', deploy[1], '--out', str(tmp_path / 'out'),
                    str(tmp_path / 'in' / 'a.png'), str(tmp_path / 'out' / 'b.png')])
    assert os.listdir(tmp_path / 'out') == ['b.png']
    # an input named by a link is the file it points to
    (tmp_path / 'links').mkdir()
    os.symlink(tmp_path / 'out' / 'b.png', tmp_path / 'links' / 'b.png')
    with pytest.raises(SystemExit, match='would overwrite the input .*links/b.png'):
        infer.main(['--deploy', deploy[0], '--weights', deploy[1], '--out', str(tmp_path / 'out'),
                    str(tmp_path / 'links' / 'b.png')])
    assert os.listdir(tmp_path / 'out') == ['b.png']
    # two inputs of one stem, or a stem and another's overlay name, would write one file
    Image.fromarray(picture()).save(tmp_path / 'in' / 'b.jpg')
    Image.fromarray(picture()).save(tmp_path / 'in' / 'a_overlay.bmp')
    for pair in (('in/b.jpg', 'out/b.png'), ('in/a.png', 'in/a_overlay.bmp')):
        paths = [str(tmp_path / p) for p in pair]
        with pytest.raises(SystemExit, match='%s and %s would both write' % tuple(paths)):
            infer.main(['--deploy', deploy[0], '--weights', deploy[1], '--out', str(tmp_path / 'new')]
                       + paths)
    assert not (tmp_path / 'new').exists()
