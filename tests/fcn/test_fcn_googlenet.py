"""FCN-GoogLeNet (paper, section 4.1 and Table 1) against the BVLC GoogLeNet classifier it is cut from."""
import os

import numpy as np
import pytest

from fcn import backend
from fcn import surgery
from nets import classifiers, voc
from nets.data import input_shapes, with_inputs
from fcn.analyses.shift_stitch import geometry
from torchcaffe.formats import prototxt
from torchcaffe.proto import caffe_pb2

caffe = backend.load()
ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Layers of the classifier that the FCN drops: the final average pooling and the
# classifier it feeds (the auxiliary heads are not in nets.classifiers at all).
DROPPED = ['pool5/7x7_s1', 'loss3/classifier', 'prob']
HEAD = ['score_fr', 'upscore', 'score', 'loss']


def train_net():
    return prototxt.read(os.path.join(ROOT, 'voc-fcn-googlenet', 'train.prototxt'), caffe_pb2.NetParameter)


def conv_depth(net, top):
    """The most Convolution layers on a path from the input to ``top``."""
    depth = {}
    for layer in net.layer:
        d = max((depth.get(b, 0) for b in layer.bottom), default=0) + (layer.type == 'Convolution')
        depth.update((t, d) for t in layer.top)
    return depth[top]


def test_the_fcn_is_the_classifier_without_pooling_and_classifier():
    fcn, classifier = train_net(), classifiers.bvlc_googlenet()
    names = [layer.name for layer in fcn.layer]
    assert names[0] == 'data' and names[-len(HEAD):] == HEAD
    kept = [layer for layer in classifier.layer[1:] if layer.name not in DROPPED]
    assert [layer.name for layer in fcn.layer[1:-len(HEAD)]] == [layer.name for layer in kept]
    for ours, theirs in zip(fcn.layer[1:], kept):  # same settings, same wiring past the input
        if theirs.name == 'pool5/drop_7x7_s1':
            assert list(ours.bottom) == ['inception_5b/output']
            assert ours.dropout_param.dropout_ratio == pytest.approx(0.4)
        else:
            assert ours == theirs, theirs.name
    assert not any(n.startswith(('loss1/', 'loss2/')) for n in names)  # auxiliary heads
    layers = {layer.name: layer for layer in fcn.layer}
    assert list(layers['score_fr'].bottom) == ['inception_5b/output']
    assert layers['score_fr'].convolution_param.num_output == 21
    up = layers['upscore'].convolution_param
    assert (layers['upscore'].type, up.stride[0], up.kernel_size[0]) == ('Deconvolution', 32, 63)
    assert [p.lr_mult for p in layers['upscore'].param] == [0]
    assert list(layers['score'].crop_param.offset) == [1]
    deploy = [layer.name for layer in voc.fcn_googlenet('deploy').layer]
    assert 'pool5/drop_7x7_s1' not in deploy and 'loss' not in deploy


def test_table_1_geometry_and_size(tmp_path):
    """Table 1: 22 convolution layers, max stride 32, about 6M parameters. Its receptive
    field, 907, counts the 7x7 average pooling the text discards; without it, 715."""
    fcn = train_net()
    assert conv_depth(fcn, 'score_fr') == 22
    stride, rf, _ = geometry(with_inputs(fcn, input_shapes(224, 224)))['inception_5b/output']
    assert (stride, rf) == (32, 715)
    assert geometry(classifiers.bvlc_googlenet(fully_conv=True))['pool5/7x7_s1'][:2] == (32, 907)
    prototxt.write(str(tmp_path / 'net.prototxt'), with_inputs(fcn, input_shapes(64, 64)))
    net = caffe.Net(str(tmp_path / 'net.prototxt'), caffe.TEST)
    trunk = sum(b.data.size for name, blobs in net.params.items() if name not in HEAD for b in blobs)
    assert 5.9e6 < trunk < 6.1e6


def random_weights(net, seed):
    """He-scaled Gaussian weights and small biases, so activations stay finite through 22 layers."""
    rng = np.random.RandomState(seed)
    for blobs in net.params.values():
        weight = blobs[0].data
        weight[...] = rng.randn(*weight.shape) * np.sqrt(2.0 / np.prod(weight.shape[1:]))
        blobs[1].data[...] = rng.uniform(0, 0.1, blobs[1].data.shape)


def test_surgery_from_the_classifier_into_the_train_net_by_name(tmp_path, capsys):
    """ilsvrc-to-fcn --arch googlenet on a GoogLeNet-shaped classifier, then the train net
    loads the twin by name: every trunk layer is the classifier's, the score starts at zero."""
    prototxt.write(str(tmp_path / 'classifier.prototxt'), classifiers.bvlc_googlenet())
    classifier = caffe.Net(str(tmp_path / 'classifier.prototxt'), caffe.TEST)
    random_weights(classifier, 0)
    weights = tmp_path / 'bvlc_googlenet.caffemodel'
    classifier.save(str(weights))
    twin = tmp_path / 'googlenet-fcn.caffemodel'
    surgery.main(['ilsvrc-to-fcn', '--arch', 'googlenet', '--weights', str(weights), '--out', str(twin)])
    assert 'transplant: 115 copied, 1 coerced, 0 dropped, 0 untouched' in capsys.readouterr().out

    prototxt.write(str(tmp_path / 'train.prototxt'), with_inputs(train_net(), input_shapes(224, 224)))
    fcn = caffe.Net(str(tmp_path / 'train.prototxt'), str(twin), caffe.TEST)
    assert set(fcn.params) == set(classifier.params) - {'loss3/classifier'} | {'score_fr', 'upscore'}
    for name, blobs in classifier.params.items():
        if name in fcn.params:
            for ours, theirs in zip(fcn.params[name], blobs):
                np.testing.assert_array_equal(ours.data, theirs.data)
    assert not any(np.any(b.data) for b in fcn.params['score_fr'])
    image = np.random.RandomState(1).uniform(-60, 60, (1, 3, 224, 224)).astype(np.float32)
    classifier.forward(data=image)
    fcn.forward(data=image, label=np.zeros((1, 1, 224, 224), np.float32))
    want = classifier.blobs['inception_5b/output'].data
    assert want.shape == (1, 1024, 7, 7) and np.abs(want).max() > 0
    np.testing.assert_allclose(fcn.blobs['inception_5b/output'].data, want, rtol=1e-5, atol=1e-5 * np.abs(want).max())
    assert fcn.blobs['score'].data.shape == (1, 21, 224, 224)
