"""Loss variants against hand computations on both engines: class-weighted softmax
(paper, section 4.4) and the null background model (section 6.1)."""
import ast
import os
import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from fcn import losses
import refcaffe
from fcn import synthetic
import torchcaffe as caffe
from nets import blocks, fcn, pascalcontext, voc
from torchcaffe import layers as L
from torchcaffe.formats import prototxt

N, C, H, W = 2, 4, 3, 5
WEIGHTS = (0.5, 2.0, 1.0, 3.0)
REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def batch(seed, channels):
    """Scores (N x channels x H x W) and labels in 0..C-1 with some void (255)."""
    rng = np.random.RandomState(seed)
    score = (rng.randn(N, channels, H, W) * 3).astype(np.float32)
    label = rng.randint(0, C, (N, 1, H, W)).astype(np.float32)
    label[0, 0, 1, 2] = label[1, 0, 0, :2] = 255
    return {'score_in': score, 'label': label}


def inputs(n, channels):
    n.score_in = L.Input(shape=dict(dim=[N, channels, H, W]))
    n.label = L.Input(shape=dict(dim=[N, 1, H, W]))


def weighted_net(weights, normalize):
    n = caffe.NetSpec()
    inputs(n, C)
    n.loss = blocks.seg_loss(n.score_in, n.label, normalize, class_weights=weights)
    return n.to_proto()


def softmax_net(normalize):
    n = caffe.NetSpec()
    inputs(n, C)
    n.loss = blocks.seg_loss(n.score_in, n.label, normalize)
    return n.to_proto()


def null_net():
    """Foreground scores in, the null background's full score and the sigmoid loss out."""
    n = caffe.NetSpec()
    inputs(n, C - 1)
    fcn.null_background(n, n.score_in)
    n.targets = blocks.class_targets(n.label, C, null_background=True)
    n.loss = blocks.sigmoid_loss(n.score_in, n.targets)
    return n.to_proto()


NETS = {'weighted': (weighted_net(WEIGHTS, False), C), 'weighted_norm': (weighted_net(WEIGHTS, True), C),
        'ones': (weighted_net((1,) * C, False), C), 'ones_norm': (weighted_net((1,) * C, True), C),
        'softmax': (softmax_net(False), C), 'softmax_norm': (softmax_net(True), C),
        'null': (null_net(), C - 1)}


def write_nets(directory):
    for name, (net, _) in NETS.items():
        net.force_backward = True
        prototxt.write(os.path.join(directory, name + '.prototxt'), net)


def run_net(engine, path, feed):
    """Forward and backward once: {blob: data} and {input + '.diff': diff}."""
    net = engine.Net(path, engine.TEST)
    for name in ('score_in', 'label'):
        net.blobs[name].data[...] = feed[name]
    net.forward()
    net.backward()
    out = {name: blob.data.copy() for name, blob in net.blobs.items()}
    out['score_in.diff'] = net.blobs['score_in'].diff.copy()
    return out


# -- hand computations -----------------------------------------------------------
def labelled_pixels(label):
    """(n, y, x, label) of every pixel whose label is not void (255)."""
    for n in range(N):
        for y in range(H):
            for x in range(W):
                l = int(label[n, 0, y, x])
                if l != 255:
                    yield n, y, x, l


def hand_weighted(score, label, weights, normalize):
    """Sum over non-void pixels of -w[l] log softmax(x)[l], and its gradient, pixel by pixel."""
    loss, grad, count = 0.0, np.zeros(score.shape), 0
    for n, y, x, l in labelled_pixels(label):
        s = score[n, :, y, x].astype(np.float64)
        p = np.exp(s - s.max()) / np.exp(s - s.max()).sum()
        loss -= weights[l] * np.log(p[l])
        grad[n, :, y, x] = weights[l] * p
        grad[n, l, y, x] -= weights[l]
        count += 1
    norm = count if normalize else N
    return loss / norm, grad / norm


def hand_null(score_fg, label):
    """Sigmoid cross-entropy of classes 1..C-1 (score channel k-1) against one-hot labels; void ignored."""
    loss, grad = 0.0, np.zeros(score_fg.shape)
    for n, y, x, l in labelled_pixels(label):
        for k in range(1, C):
            s, t = float(score_fg[n, k - 1, y, x]), float(l == k)
            q = 1 / (1 + np.exp(-s))
            loss -= t * np.log(q) + (1 - t) * np.log(1 - q)
            grad[n, k - 1, y, x] = q - t
    return loss / N, grad / N  # normalize: false is Caffe's BATCH_SIZE, N


def check(results, seed):
    """The nets' losses and gradients against the hand computations."""
    feed = batch(seed, C)
    for name, weights, normalize in [('weighted', WEIGHTS, False), ('weighted_norm', WEIGHTS, True),
                                     ('ones', (1,) * C, False), ('ones_norm', (1,) * C, True)]:
        loss, grad = hand_weighted(feed['score_in'], feed['label'], weights, normalize)
        got = results[name]
        np.testing.assert_allclose(float(got['loss'].reshape(-1)[0]), loss, rtol=1e-5)
        np.testing.assert_allclose(got['score_in.diff'], grad, rtol=1e-4, atol=1e-6)
    for ones, plain in [('ones', 'softmax'), ('ones_norm', 'softmax_norm')]:  # all weights 1: SoftmaxWithLoss
        np.testing.assert_allclose(results[ones]['loss'], results[plain]['loss'], rtol=1e-6)
        np.testing.assert_allclose(results[ones]['score_in.diff'], results[plain]['score_in.diff'],
                                   rtol=1e-5, atol=1e-7)
    null = batch(seed, C - 1)
    loss, grad = hand_null(null['score_in'], null['label'])
    got = results['null']
    np.testing.assert_allclose(float(got['loss'].reshape(-1)[0]), loss, rtol=1e-5)
    np.testing.assert_allclose(got['score_in.diff'], grad, rtol=1e-4, atol=1e-6)
    assert not got['score'][:, 0].any()  # the background scores a constant zero
    np.testing.assert_array_equal(got['score'][:, 1:], null['score_in'])
    targets = got['targets']
    assert targets.shape == (N, C - 1, H, W)
    assert ((targets == 255) == (null['label'] == 255)).all()


@pytest.mark.parametrize('seed', [0, 1])
def test_losses_match_hand_computations(seed, tmp_path):
    write_nets(str(tmp_path))
    results = {name: run_net(caffe, str(tmp_path / (name + '.prototxt')), batch(seed, channels))
               for name, (_, channels) in NETS.items()}
    check(results, seed)


LIVE = '''
import sys, numpy as np
from fcn import backend
caffe = backend.load('caffe')
directory, seed, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.path[:0] = [sys.argv[4], sys.argv[4] + '/../support']
import test_losses as t
results = {}
for name, (_, channels) in t.NETS.items():
    got = t.run_net(caffe, '%s/%s.prototxt' % (directory, name), t.batch(seed, channels))
    results.update(('%s/%s' % (name, k), v) for k, v in got.items())
np.savez(out, **results)
'''


def test_losses_match_hand_computations_in_bvlc_caffe(pycaffe, tmp_path):
    """The Python loss layers inside real Caffe, whose SigmoidCrossEntropyLoss does the null model's math."""
    write_nets(str(tmp_path))
    out = str(tmp_path / 'out.npz')
    env = dict(refcaffe.env(), FCN_BACKEND='caffe')
    r = subprocess.run([sys.executable, '-c', LIVE, str(tmp_path), '1', out, os.path.dirname(__file__)],
                       cwd=REPO, env=env, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    saved = np.load(out)
    results = {}
    for key in saved.files:
        name, blob = key.split('/', 1)
        results.setdefault(name, {})[blob] = saved[key]
    check(results, 1)


@pytest.mark.parametrize('layer, params, message', [
    ('WeightedSoftmaxLoss', {'weights': (1,) * (C - 1)}, 'has 3 weights for 4 classes'),
    ('WeightedSoftmaxLoss', {}, 'needs weights'),
    ('WeightedSoftmaxLoss', {'weights': (1,) * C, 'weigths': 1}, 'keys from weights, ignore_label'),
    ('ClassTargets', {'num_classes': 'four'}, 'needs num_classes'),
])
def test_loss_layer_param_errors(layer, params, message, tmp_path):
    n = caffe.NetSpec()
    inputs(n, C)
    bottoms = (n.score_in, n.label) if layer == 'WeightedSoftmaxLoss' else (n.label,)
    n.out = L.Python(*bottoms, module='fcn.losses', layer=layer, param_str=repr(params))
    prototxt.write(tmp_path / 'net.prototxt', n.to_proto())
    with pytest.raises(ValueError, match=message):
        caffe.Net(str(tmp_path / 'net.prototxt'), caffe.TEST)


# -- the null background does not learn --------------------------------------------
SOLVER = 'base_lr: 0.1 lr_policy: "fixed" momentum: 0.9 weight_decay: 0.0005 max_iter: 100 ' \
         'snapshot_prefix: "snap" random_seed: 3 net: "%s"'


def test_null_background_stays_zero_while_the_foreground_learns(tmp_path):
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[N, 3, H, W]))
    n.label = L.Input(shape=dict(dim=[N, 1, H, W]))
    n.score_fg = L.Convolution(n.data, num_output=C - 1, kernel_size=1,
                               weight_filler=dict(type='gaussian', std=0.5))
    fcn.null_background(n, n.score_fg)
    n.targets = blocks.class_targets(n.label, C, null_background=True)
    n.loss = blocks.sigmoid_loss(n.score_fg, n.targets)
    prototxt.write(tmp_path / 'net.prototxt', n.to_proto())
    (tmp_path / 'solver.prototxt').write_text(SOLVER % (tmp_path / 'net.prototxt'))
    solver = caffe.get_solver(str(tmp_path / 'solver.prototxt'))
    net = solver.net
    feed = batch(4, 3)
    net.blobs['data'].data[...], net.blobs['label'].data[...] = feed['score_in'], feed['label']
    before = net.params['score_fg'][0].data.copy()
    solver.step(1)
    first = float(net.blobs['loss'].data)
    solver.step(20)
    assert float(net.blobs['loss'].data) < first
    assert not np.allclose(net.params['score_fg'][0].data, before)
    assert not net.params['score_bg'][0].data.any()
    assert not net.blobs['score'].data[:, 0].any()
    assert (net.blobs['score'].data.argmax(1) == 0).any()  # background where every foreground score is negative


# -- the NetSpec flags -----------------------------------------------------------------
def by_name(net):
    return {layer.name: layer for layer in net.layer}


def test_null_background_variant_of_the_voc_net():
    layers = by_name(voc.fcn_vgg16('train', 32, loss='null'))
    assert layers['score_fr_fg'].convolution_param.num_output == 20
    bg = layers['score_bg']
    assert bg.type == 'Convolution' and list(bg.bottom) == ['score_fg']
    assert bg.convolution_param.num_output == 1 and not bg.convolution_param.bias_term
    assert (bg.convolution_param.weight_filler.type, bg.convolution_param.weight_filler.value) == ('constant', 0)
    assert [(p.lr_mult, p.decay_mult) for p in bg.param] == [(0, 0)]
    assert layers['score'].type == 'Concat' and list(layers['score'].bottom) == ['score_bg', 'score_fg']
    targets = layers['targets']
    assert (targets.type, targets.python_param.module, targets.python_param.layer) == \
        ('Python', 'fcn.losses', 'ClassTargets')
    assert ast.literal_eval(targets.python_param.param_str) == {'num_classes': 21, 'null_background': True}
    loss = layers['loss']
    assert loss.type == 'SigmoidCrossEntropyLoss' and list(loss.bottom) == ['score_fg', 'targets']
    assert (loss.loss_param.normalize, loss.loss_param.ignore_label) == (False, 255)
    deploy = by_name(voc.fcn_vgg16('deploy', 8, loss='null'))
    assert 'loss' not in deploy and 'targets' not in deploy and deploy['score'].type == 'Concat'
    assert by_name(voc.fcn_vgg16('train', 32, loss='sigmoid'))['loss'].bottom[0] == 'score'


def test_class_weights_variant():
    weights = tuple(np.linspace(0.5, 2.5, 60))
    loss = by_name(pascalcontext.fcn_vgg16('train', 16, class_weights=weights))['loss']
    assert (loss.type, loss.python_param.module, loss.python_param.layer) == ('Python', 'fcn.losses',
                                                                           'WeightedSoftmaxLoss')
    assert list(loss.bottom) == ['score', 'label'] and list(loss.loss_weight) == [1]
    params = ast.literal_eval(loss.python_param.param_str)
    assert params == {'weights': weights, 'ignore_label': 255, 'normalize': False}
    assert by_name(voc.fcn_vgg16('train'))['loss'].type == 'SoftmaxWithLoss'  # off by default


@pytest.mark.parametrize('kw, message', [
    ({'loss': 'hinge'}, 'loss must be one of softmax, sigmoid, null'),
    ({'class_weights': (1,) * 20}, 'one per class'),
    ({'loss': 'null', 'class_weights': (1,) * 21}, 'of the softmax loss'),
])
def test_loss_option_errors(kw, message):
    with pytest.raises(ValueError, match=message):
        voc.fcn_vgg16('train', **kw)


# -- class weights from a split ------------------------------------------------------
def test_class_weights_are_inverse_frequencies_averaging_one_per_pixel():
    counts = np.array([600, 300, 0, 100])
    weights = losses.class_weights(counts)
    np.testing.assert_allclose(weights, [1000 / (3 * 600), 1000 / (3 * 300), 1, 1000 / (3 * 100)])
    assert np.isclose((weights * counts).sum(), counts.sum())


def test_class_weights_command_counts_the_training_split(tmp_path, capsys):
    root = tmp_path / 'data'
    synthetic.make_voc(str(root), n=4, size=(16, 20), seed=1)
    net = tmp_path / 'val.prototxt'
    prototxt.write(net, voc.fcn_vgg16('seg11valid'))
    losses.main(['class-weights', str(net), '--data-root', str(root)])
    lines = capsys.readouterr().out.splitlines()
    counts = np.zeros(21, np.int64)
    vocdir = root / 'pascal' / 'VOC2011'
    for id_ in (vocdir / 'ImageSets' / 'Segmentation' / 'seg11valid.txt').read_text().split():
        label = np.asarray(Image.open(vocdir / 'SegmentationClass' / (id_ + '.png')))
        counts += np.bincount(label[label != 255], minlength=21)[:21]
    assert lines[0] == 'label: pixels %s' % counts.tolist()
    weights = ast.literal_eval(lines[1].split('class_weights=', 1)[1])
    np.testing.assert_allclose(weights, losses.class_weights(counts), rtol=1e-5)
