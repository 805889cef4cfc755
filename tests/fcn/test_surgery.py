"""surgery.py: transplant (fc -> conv), bilinear interp, expand_score, the ilsvrc-to-fcn command."""
import math
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

from fcn import backend
from fcn import surgery
from golden import Golden, path as golden_path
from nets import classifiers, vgg
from nets.data import input_data
from torchcaffe import io
from torchcaffe.engine import fillers
from torchcaffe.formats import binaryproto, prototxt
from torchcaffe.net_spec import NetSpec, layers as L
from torchcaffe.proto import caffe_pb2

caffe = backend.load()  # FCN_BACKEND=caffe runs these tests on BVLC pycaffe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
FC = 'fc_to_conv'


def nerr(a, b):
    """max |a - b| / max |b|, the golden README's normalized error."""
    return np.abs(a - b).max() / np.abs(b).max()


def golden_classifier():
    return caffe.Net(golden_path(FC, 'classifier.prototxt'), golden_path(FC, 'classifier.caffemodel'),
                     caffe.TEST)


def net_from(text, tmp_path, name='net.prototxt'):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return caffe.Net(str(path), caffe.TEST)


def test_the_original_signatures():
    import inspect
    names = {f: list(inspect.signature(getattr(surgery, f)).parameters)
             for f in ('transplant', 'interp', 'upsample_filt', 'expand_score')}
    assert names == {'transplant': ['new_net', 'net', 'suffix'], 'interp': ['net', 'layers'],
                     'upsample_filt': ['size'], 'expand_score': ['new_net', 'new_layer', 'net', 'layer']}
    assert inspect.signature(surgery.transplant).parameters['suffix'].default == ''


# --- transplant -------------------------------------------------------------------------------

def test_transplant_makes_the_classifier_fully_convolutional_as_caffe_does(capsys):
    g = Golden(FC)
    twin = caffe.Net(golden_path(FC, 'net.prototxt'), caffe.TEST)
    report = surgery.transplant(twin, golden_classifier())
    assert report.layers('coerced') == [('fc6', 0), ('fc7', 0), ('fc8', 0)]
    assert report.layers('copied') == [('conv1', 0), ('conv1', 1), ('conv2', 0), ('conv2', 1),
                                       ('fc6', 1), ('fc7', 1), ('fc8', 1)]
    assert report.layers('dropped') == [] and report.untouched == []
    out = capsys.readouterr().out
    assert out.startswith('transplant: 7 copied, 3 coerced, 0 dropped, 0 untouched\n')
    assert 'coerced   fc6[0]                   (16, 128) -> (16, 8, 4, 4)' in out
    for layer, blobs in twin.params.items():  # Caffe's flat copy, bit for bit
        for i, blob in enumerate(blobs):
            np.testing.assert_array_equal(blob.data, g['param/%s/%d' % (layer, i)])
    twin.forward(data=g['input/data'])
    for blob in ('conv1', 'pool2', 'fc6', 'fc7', 'fc8'):
        assert twin.blobs[blob].data.shape == g['data/' + blob].shape
        assert nerr(twin.blobs[blob].data, g['data/' + blob]) < 1e-5, blob
    assert twin.blobs['fc8'].data.shape == (1, 5, 3, 4)


def test_transplant_reports_dropped_and_new_layers_and_uses_the_suffix(tmp_path, capsys):
    text = open(golden_path(FC, 'net.prototxt')).read()
    for layer in ('conv1', 'conv2', 'fc6', 'fc7'):
        text = text.replace('name: "%s"' % layer, 'name: "%s_color"' % layer)
    text = text.replace('name: "fc8"', 'name: "score_fr"')
    twin = net_from(text, tmp_path)
    report = surgery.transplant(twin, golden_classifier(), suffix='_color')
    assert report.layers('dropped') == [('fc8', None)]
    assert report.untouched == ['score_fr']
    assert [(e[1], e[2]) for e in report.entries if e[0] == 'coerced'] == [
        ('fc6', 'fc6_color'), ('fc7', 'fc7_color')]
    assert not np.any(twin.params['score_fr'][0].data)
    out = capsys.readouterr().out
    assert 'dropped   fc8 -> fc8_color' in out and 'no such layer in the new net' in out
    assert 'untouched score_fr' in out


X_3X4X4 = '''layer { name: "x" type: "Input" top: "x"
                     input_param { shape { dim: 1 dim: 3 dim: 4 dim: 4 } } }'''


def test_transplant_drops_extra_blobs_and_refuses_other_sizes(tmp_path):
    net = net_from(X_3X4X4 + '''
        layer { name: "fc" type: "InnerProduct" bottom: "x" top: "y"
                inner_product_param { num_output: 2 } }''', tmp_path, 'a.prototxt')
    no_bias = net_from(X_3X4X4 + '''
        layer { name: "fc" type: "Convolution" bottom: "x" top: "y"
                convolution_param { num_output: 2 kernel_size: 4 bias_term: false } }''',
                       tmp_path, 'b.prototxt')
    net.params['fc'][0].data[...] = np.arange(96).reshape(2, 48)
    report = surgery.transplant(no_bias, net)
    assert report.layers('coerced') == [('fc', 0)] and report.layers('dropped') == [('fc', 1)]
    np.testing.assert_array_equal(no_bias.params['fc'][0].data.ravel(), np.arange(96))
    other = net_from(X_3X4X4 + '''
        layer { name: "fc" type: "Convolution" bottom: "x" top: "y"
                convolution_param { num_output: 2 kernel_size: 3 } }''', tmp_path, 'c.prototxt')
    with pytest.raises(ValueError, match=r'fc \[0\] of shape \(2, 48\) \(96 values\) does not fit'):
        surgery.transplant(other, net)


# --- bilinear upsampling ------------------------------------------------------------------

def caffe_bilinear(k):
    """Caffe's BilinearFiller arithmetic, in float32 as Caffe runs it."""
    f = np.float32(math.ceil(k / 2.0))
    c = np.float32((k - 1) / (2.0 * f))
    x = np.arange(k, dtype=np.float32)
    ramp = np.float32(1) - np.abs(x / f - c)
    return ramp[:, None] * ramp[None, :]


def test_upsample_filt_by_hand():
    np.testing.assert_allclose(upsample := surgery.upsample_filt(4),
                               np.outer([0.25, 0.75, 0.75, 0.25], [0.25, 0.75, 0.75, 0.25]))
    assert upsample.dtype == np.float64
    np.testing.assert_allclose(surgery.upsample_filt(3), np.outer([0.5, 1, 0.5], [0.5, 1, 0.5]))
    assert surgery.upsample_filt(1).tolist() == [[1.0]]


@pytest.mark.parametrize('k', [3, 4, 16, 32, 63, 64])
def test_upsample_filt_equals_caffes_bilinear_filler_bit_for_bit(k):
    filt = surgery.upsample_filt(k).astype(np.float32)
    np.testing.assert_array_equal(filt, caffe_bilinear(k))
    np.testing.assert_array_equal(filt, fillers.bilinear((1, 1, k, k))[0, 0])


@pytest.mark.parametrize('case, k', [('deconv_bilinear_filler_k3', 3),
                                     ('deconv_group_bilinear_filler', 4)])
def test_upsample_filt_equals_the_golden_filler_output(case, k):
    weights = Golden(case)['param/up/0']
    for c in range(len(weights)):
        np.testing.assert_array_equal(weights[c, 0], surgery.upsample_filt(k).astype(np.float32))


def random_weights(net, layer):
    net.params[layer][0].data[...] = np.random.RandomState(1).randn(*net.params[layer][0].data.shape)


def test_interp_fills_the_diagonal_like_fcn():
    g = Golden('deconv_k4_s2_interp')
    net = caffe.Net(golden_path('deconv_k4_s2_interp', 'net.prototxt'), caffe.TEST)
    surgery.interp(net, ['up'])  # on the default filler's zeros, as every solve.py calls it
    np.testing.assert_array_equal(net.params['up'][0].data, g['param/up/0'])
    assert not np.any(net.params['up'][0].data[0, 1]) and np.any(g['param/up/0'][1, 1])
    net.forward(x=g['input/x'])
    assert nerr(net.blobs['y'].data, g['data/y']) < 1e-5


def test_interp_writes_only_the_diagonal_as_the_original_does():
    g = Golden('deconv_k4_s2_interp')
    net = caffe.Net(golden_path('deconv_k4_s2_interp', 'net.prototxt'), caffe.TEST)
    random_weights(net, 'up')
    before = net.params['up'][0].data.copy()
    surgery.interp(net, ['up'])
    after = net.params['up'][0].data
    diagonal = np.eye(3, dtype=bool)
    np.testing.assert_array_equal(after[diagonal], g['param/up/0'][diagonal])
    np.testing.assert_array_equal(after[~diagonal], before[~diagonal])


def test_interp_fills_every_filter_of_a_grouped_deconvolution():
    g = Golden('deconv_group_bilinear_filler')
    net = caffe.Net(golden_path('deconv_group_bilinear_filler', 'net.prototxt'), caffe.TEST)
    random_weights(net, 'up')
    surgery.interp(net, ['up'])
    np.testing.assert_array_equal(net.params['up'][0].data, g['param/up/0'])


@pytest.mark.parametrize('conv, message', [
    ('num_output: 2 kernel_size: 4', 'maps 3 to 2 channels'),
    ('num_output: 3 kernel_h: 4 kernel_w: 2', 'has a 4x2 kernel'),
])
def test_interp_refuses_what_is_not_channelwise_upsampling(tmp_path, conv, message):
    net = net_from('''
        layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 1 dim: 3 dim: 5 dim: 6 } } }
        layer { name: "up" type: "Deconvolution" bottom: "x" top: "y"
                convolution_param { %s stride: 2 bias_term: false } }''' % conv, tmp_path)
    with pytest.raises(ValueError, match=message):
        surgery.interp(net, ['up'])


# --- expand_score ---------------------------------------------------------------------------

def score_net(tmp_path, name, classes):
    return net_from('''
        layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 1 dim: 4 dim: 2 dim: 2 } } }
        layer { name: "%s" type: "Convolution" bottom: "x" top: "y"
                convolution_param { num_output: %d kernel_size: 1 } }''' % (name, classes),
                    tmp_path, name + '.prototxt')


def test_expand_score_keeps_the_old_classes_first(tmp_path):
    old, new = score_net(tmp_path, 'score', 3), score_net(tmp_path, 'score59', 5)
    old.params['score'][0].data[...] = np.arange(12).reshape(3, 4, 1, 1)
    old.params['score'][1].data[...] = [7, 8, 9]
    surgery.expand_score(new, 'score59', old, 'score')
    w, b = new.params['score59'][0].data, new.params['score59'][1].data
    np.testing.assert_array_equal(w[:3], old.params['score'][0].data)
    assert not np.any(w[3:]) and b.tolist() == [7, 8, 9, 0, 0]
    x = np.random.RandomState(0).randn(1, 4, 2, 2).astype(np.float32)
    np.testing.assert_allclose(new.forward(x=x)['y'][:, :3], old.forward(x=x)['y'], rtol=1e-6)
    with pytest.raises(ValueError, match='do not fit'):
        surgery.expand_score(old, 'score', new, 'score59')


# --- the ilsvrc-to-fcn command ------------------------------------------------------------------

def run_surgery(*args):
    command = [sys.executable, os.path.join(ROOT, 'surgery.py'), 'ilsvrc-to-fcn'] + list(args)
    return subprocess.run(command, capture_output=True, text=True, cwd=ROOT)


def test_command_on_caffes_classifier_gives_caffes_twin(tmp_path):
    out = tmp_path / 'twin-fcn.caffemodel'
    done = run_surgery('--classifier', golden_path(FC, 'classifier.prototxt'),
                       '--twin', golden_path(FC, 'net.prototxt'),
                       '--weights', golden_path(FC, 'classifier.caffemodel'), '--out', str(out))
    assert done.returncode == 0, done.stderr
    assert 'transplant: 7 copied, 3 coerced, 0 dropped, 0 untouched' in done.stdout
    assert 'saved %s' % out in done.stdout
    g = Golden(FC)
    twin = caffe.Net(golden_path(FC, 'net.prototxt'), str(out), caffe.TEST)
    twin.forward(data=g['input/data'])
    assert nerr(twin.blobs['fc8'].data, g['data/fc8']) < 1e-5


def tiny_vgg16(fully_conv=False, shape=(1, 3, 224, 224)):
    """VGG16 with VGG's layer names and kernels but 2 channels per stage and fc 8, 5 classes."""
    n = NetSpec()
    input_data(n, {'data': shape})
    top = vgg.features(n, n.data, pad=1, widths=(2,) * 5)
    top = vgg.fully_connected(n, top, fc=8, as_conv=fully_conv)
    n.fc8 = (L.Convolution(top, num_output=5, kernel_size=1) if fully_conv
             else L.InnerProduct(top, num_output=5))
    n.prob = L.Softmax(n.fc8)
    return n.to_proto()


V1_TYPES = {'Convolution': caffe_pb2.V1LayerParameter.CONVOLUTION,
            'InnerProduct': caffe_pb2.V1LayerParameter.INNER_PRODUCT}


def write_v1(net, proto, path):
    """``net``'s params as an old V1 caffemodel: V1 layers, legacy 4-d blob shapes."""
    old = caffe_pb2.NetParameter(name='v1')
    types = {layer.name: layer.type for layer in proto.layer}
    for layer, blobs in net.params.items():
        v1 = old.layers.add(name=layer, type=V1_TYPES[types[layer]])
        for blob in blobs:
            shape = (1,) * (4 - blob.data.ndim) + blob.data.shape
            v1.blobs.add(num=shape[0], channels=shape[1], height=shape[2], width=shape[3],
                         data=blob.data.ravel().tolist())
    binaryproto.write(str(path), old)


@pytest.fixture
def tiny_classifier(tmp_path, monkeypatch):
    """A random tiny VGG16 classifier stands in for the released one; returns the net."""
    monkeypatch.setattr(classifiers, 'vgg16', tiny_vgg16)
    prototxt.write(str(tmp_path / 'classifier.prototxt'), tiny_vgg16())
    net = caffe.Net(str(tmp_path / 'classifier.prototxt'), caffe.TEST)
    rng = np.random.RandomState(0)
    for blobs in net.params.values():
        for blob in blobs:
            blob.data[...] = rng.randn(*blob.data.shape) * 0.5
    return net


@pytest.mark.parametrize('version', ['V2', 'V1'])
def test_command_makes_the_fully_convolutional_vgg16(tmp_path, tiny_classifier, version, capsys):
    weights = tmp_path / 'VGG_ILSVRC_16_layers.caffemodel'
    if version == 'V2':
        tiny_classifier.save(str(weights))
    else:
        write_v1(tiny_classifier, tiny_vgg16(), weights)
    surgery.main(['ilsvrc-to-fcn', '--arch', 'vgg16', '--weights', str(weights),
                  '--out', str(tmp_path / 'out' / 'vgg16-fcn.caffemodel')])
    out = capsys.readouterr().out
    assert 'transplant: 29 copied, 3 coerced, 0 dropped, 0 untouched' in out
    assert '(8, 98) -> (8, 2, 7, 7)' in out
    # The twin on the classifier's input: its 1x1 fc outputs are the classifier's
    weights = str(tmp_path / 'out' / 'vgg16-fcn.caffemodel')
    prototxt.write(str(tmp_path / 'twin.prototxt'), tiny_vgg16(fully_conv=True))
    twin = caffe.Net(str(tmp_path / 'twin.prototxt'), weights, caffe.TEST)
    image = np.random.RandomState(1).uniform(-50, 50, (1, 3, 224, 224)).astype(np.float32)
    twin.forward(data=image)
    tiny_classifier.forward(data=image)
    for blob in ('fc6', 'fc7', 'fc8', 'prob'):
        got, want = twin.blobs[blob].data, tiny_classifier.blobs[blob].data
        assert got.shape == want.shape + (1, 1)
        assert nerr(got[:, :, 0, 0], want) < 1e-5, blob
    # and on a larger image it scores a map
    prototxt.write(str(tmp_path / 'big.prototxt'), tiny_vgg16(fully_conv=True, shape=(1, 3, 256, 288)))
    big = caffe.Net(str(tmp_path / 'big.prototxt'), weights, caffe.TEST)
    assert big.forward(data=np.ones((1, 3, 256, 288), np.float32))['prob'].shape == (1, 5, 2, 3)


def make_vgg16_fcn(weights, out):
    surgery.main(['ilsvrc-to-fcn', '--arch', 'vgg16', '--weights', str(weights), '--out', out])


def test_ilsvrc_to_fcn_raises_and_the_command_exits_with_the_message(tmp_path, capsys):
    """Library code raises SurgeryError; only main turns it into an exit with the message."""
    missing = str(tmp_path / 'missing.caffemodel')
    with pytest.raises(surgery.SurgeryError, match='^no weights file .*missing.caffemodel'):
        surgery.ilsvrc_to_fcn(caffe, golden_path(FC, 'classifier.prototxt'), golden_path(FC, 'net.prototxt'),
                              missing, str(tmp_path / 'out.caffemodel'))
    with pytest.raises(SystemExit, match='^ilsvrc-to-fcn: no weights file .*missing.caffemodel') as e:
        surgery.main(['ilsvrc-to-fcn', '--classifier', golden_path(FC, 'classifier.prototxt'),
                      '--twin', golden_path(FC, 'net.prototxt'), '--weights', missing,
                      '--out', str(tmp_path / 'out.caffemodel')])
    assert e.value.code != 0 and not (tmp_path / 'out.caffemodel').exists()


def test_command_errors_name_the_problem(tmp_path, tiny_classifier):
    out = str(tmp_path / 'fcn.caffemodel')
    with pytest.raises(SystemExit, match='no weights file .*missing.caffemodel'):
        make_vgg16_fcn(tmp_path / 'missing.caffemodel', out)
    # a caffemodel without the classifier's layers: loading by name would leave zeros
    partial = caffe_pb2.NetParameter()
    conv = partial.layer.add(name='conv1_1', type='Convolution')  # and nothing else
    for blob in tiny_classifier.params['conv1_1']:
        conv.blobs.add().CopyFrom(io.array_to_blobproto(blob.data))
    binaryproto.write(str(tmp_path / 'partial.caffemodel'), partial)
    with pytest.raises(SystemExit, match='no weights for conv1_2, conv2_1, .*fc7, fc8$'):
        make_vgg16_fcn(tmp_path / 'partial.caffemodel', out)
    assert not os.path.exists(out)


def test_command_fails_on_another_classifier_or_file(tmp_path):
    """Refused by the loader: torchcaffe raises (the command says why), Caffe aborts."""
    prototxt.write(str(tmp_path / 'classifier.prototxt'), tiny_vgg16())
    prototxt.write(str(tmp_path / 'twin.prototxt'), tiny_vgg16(fully_conv=True))
    (tmp_path / 'text.caffemodel').write_text('not a caffemodel')
    out = tmp_path / 'fcn.caffemodel'
    text = str(tmp_path / 'text.caffemodel')
    for weights, says, ours in ((golden_path(FC, 'classifier.caffemodel'), "layer 'fc6'", 'shape'),
                                (text, text, 'not a binary')):
        done = run_surgery('--classifier', str(tmp_path / 'classifier.prototxt'),
                           '--twin', str(tmp_path / 'twin.prototxt'),
                           '--weights', weights, '--out', str(out))
        assert done.returncode != 0 and says in done.stderr, done.stderr
        assert not out.exists()
        if caffe.__name__ == 'torchcaffe':
            assert 'does not hold the classifier: ' in done.stderr and ours in done.stderr


def test_command_line_checks():
    done = run_surgery('--weights', 'w', '--out', 'o')
    assert done.returncode == 2 and 'one of the arguments --arch --classifier is required' in done.stderr
    done = run_surgery('--classifier', 'c.prototxt', '--weights', 'w', '--out', 'o')
    assert done.returncode == 2 and '--classifier and --twin go together' in done.stderr


@pytest.mark.parametrize('arch', sorted(surgery.ARCHS))
def test_each_arch_has_a_twin_with_the_classifiers_layer_names(arch):
    build = getattr(classifiers, surgery.ARCHS[arch])
    classifier, twin = build(fully_conv=False), build(fully_conv=True)
    learned = {layer.name: layer.type for layer in classifier.layer
               if layer.type in ('Convolution', 'InnerProduct')}
    twin_types = {layer.name: layer.type for layer in twin.layer}
    assert set(learned) <= set(twin_types)
    fc = [name for name, kind in learned.items() if kind == 'InnerProduct']
    assert fc and all(twin_types[name] == 'Convolution' for name in fc)
    assert 'InnerProduct' not in twin_types.values()
