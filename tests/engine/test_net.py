"""The Net surface: construction rules, forward/backward arguments, errors, Python layers."""
import sys
import textwrap

import numpy as np
import pytest

import torchcaffe as caffe
from torchcaffe.errors import NetError
from torchcaffe.formats import prototxt
from torchcaffe.proto import caffe_pb2


def net_param(text):
    return prototxt.parse(textwrap.dedent(text), caffe_pb2.NetParameter())


def make(text, phase=caffe.TEST, **kw):
    return caffe.Net(net_param(text), phase, **kw)


INPUT = 'layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 5 } } }\n'


def test_phase_rules_select_layers():
    text = INPUT + '''
    layer { name: "a" type: "ReLU" bottom: "x" top: "a" include { phase: TRAIN } }
    layer { name: "b" type: "TanH" bottom: "x" top: "b" exclude { phase: TRAIN } }
    layer { name: "c" type: "Sigmoid" bottom: "x" top: "c" include { stage: "deploy" } }
    layer { name: "d" type: "Sigmoid" bottom: "x" top: "d" include { min_level: 2 } }
    '''
    def names(net):
        return [n for n, l in net.layer_dict.items() if l.type != 'Split']
    assert names(make(text, caffe.TRAIN)) == ['x', 'a']
    assert names(make(text, caffe.TEST)) == ['x', 'b']
    assert names(make(text, caffe.TEST, stages=['deploy'])) == ['x', 'b', 'c']
    assert names(make(text, caffe.TEST, level=2)) == ['x', 'b', 'd']


def test_in_place_and_outputs():
    net = make(INPUT + '''
    layer { name: "r" type: "ReLU" bottom: "x" top: "x" }
    layer { name: "t" type: "TanH" bottom: "x" top: "t" }
    layer { name: "s" type: "Sigmoid" bottom: "x" top: "s" }
    ''')
    # in place keeps one blob; two consumers get Caffe's Split layer and names
    assert list(net.blobs) == ['x', 'x_r_0_split_0', 'x_r_0_split_1', 't', 's']
    assert net._layer_names == ['x', 'r', 'x_r_0_split', 't', 's']
    assert net.outputs == ['s', 't'] and net.inputs == ['x']
    x = np.linspace(-2, 2, 120, dtype=np.float32).reshape(2, 3, 4, 5)
    out = net.forward(x=x)
    np.testing.assert_allclose(out['t'], np.tanh(np.maximum(x, 0)), rtol=1e-6)


def test_loss_weight_on_any_top_and_backward_from_it():
    net = make(INPUT + '''
    layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" loss_weight: 2
            inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
    ''')
    x = np.random.RandomState(0).randn(2, 3, 4, 5).astype(np.float32)
    net.blobs['x'].data[...] = x
    loss = net._forward(0, 1)
    assert abs(loss - 2 * net.blobs['y'].data.sum()) < 1e-4
    net.backward()
    # d(2 sum(y))/dW = 2 * sum over the batch of x
    np.testing.assert_allclose(net.params['ip'][0].diff, 2 * np.tile(x.reshape(2, -1).sum(0), (3, 1)),
                               rtol=1e-5)
    np.testing.assert_allclose(net.params['ip'][1].diff, [4, 4, 4])
    assert not net.blobs['x'].diff.any()  # no force_backward: inputs get no diff


def test_propagate_down_and_force_backward():
    def net(extra, force=False):
        n = make(('force_backward: true\n' if force else '') + INPUT + '''
        layer { name: "l" type: "Input" top: "l" input_param { shape { dim: 2 dim: 3 } } }
        layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y"
                inner_product_param { num_output: 3 weight_filler { type: "gaussian" } } }
        layer { name: "e" type: "EuclideanLoss" bottom: "y" bottom: "l" top: "loss" %s }''' % extra)
        n.blobs['x'].data[...] = 1
        n.blobs['l'].data[...] = 1
        n.forward()
        n.backward()
        return n
    plain = net('')
    assert plain.params['ip'][0].diff.any() and not plain.blobs['l'].diff.any()
    assert not plain.blobs['x'].diff.any()
    blocked = net('propagate_down: false propagate_down: false')
    assert not blocked.params['ip'][0].diff.any() and not blocked.blobs['y'].diff.any()
    # Caffe: force_backward overrides propagate_down where the layer allows it
    forced = net('propagate_down: true propagate_down: false', force=True)
    assert forced.blobs['x'].diff.any() and forced.blobs['l'].diff.any()


def test_lr_mult_zero_blocks_param_backward():
    net = make(INPUT + '''
    layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y" param { lr_mult: 0 } param { lr_mult: 1 }
            inner_product_param { num_output: 3 } }
    layer { name: "s" type: "Silence" bottom: "y" } ''')
    assert net.learnable_params[0] is net.params['ip'][0] and net.params_lr == [0, 1]


def test_forward_backward_arguments():
    net = make(INPUT + 'layer { name: "t" type: "TanH" bottom: "x" top: "t" }\n'
                       'layer { name: "s" type: "Sigmoid" bottom: "t" top: "s" }\n'
                       'force_backward: true\n')
    x = np.ones((2, 3, 4, 5), np.float32)
    out = net.forward(x=x, end='t')
    assert set(out) == {'t'} and not net.blobs['s'].data.any()
    out = net.forward(start='s', blobs=['t'])
    assert set(out) == {'s', 't'}
    np.testing.assert_allclose(out['s'], 1 / (1 + np.exp(-np.tanh(1))), rtol=1e-6)
    diffs = net.backward(s=np.ones((2, 3, 4, 5), np.float32))
    assert set(diffs) == {'x'} and diffs['x'].shape == (2, 3, 4, 5)
    with pytest.raises(NetError, match='do not match the net inputs'):
        net.forward(y=x)
    with pytest.raises(NetError, match='batch size'):
        net.forward(x=np.ones((3, 3, 4, 5), np.float32))
    with pytest.raises(NetError, match="no layer 'nope'"):
        net.forward(end='nope')


def test_reshape_propagates_input_shape():
    net = make(INPUT + 'layer { name: "c" type: "Convolution" bottom: "x" top: "c" '
                       'convolution_param { num_output: 2 kernel_size: 3 } }')
    assert net.blobs['c'].shape == (2, 2, 2, 3)
    net.blobs['x'].reshape(1, 3, 10, 11)
    net.reshape()
    assert net.blobs['c'].shape == (1, 2, 8, 9)
    assert net.blobs['c'].num == 1 and net.blobs['c'].channels == 2
    assert net.blobs['c'].height == 8 and net.blobs['c'].width == 9 and net.blobs['c'].count == 144


@pytest.mark.parametrize('text, message', [
    (INPUT + 'layer { name: "bad" type: "Frobnicate" bottom: "x" top: "y" }', "layer 'bad': unknown layer type 'Frobnicate'"),
    (INPUT + 'layer { name: "r" type: "ReLU" bottom: "z" top: "y" }', "layer 'r': unknown bottom blob 'z'"),
    (INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n'
             'layer { name: "s" type: "ReLU" bottom: "x" top: "y" }', "layer 's': top blob 'y' is produced by another layer"),
    (INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" include { phase: TEST } exclude { phase: TRAIN } }',
     "layer 'r': give include rules or exclude rules"),
    (INPUT + 'layer { name: "e" type: "Eltwise" bottom: "x" bottom: "y" top: "z" }\n'
             'layer { name: "y" type: "Input" top: "y" input_param { shape { dim: 1 } } }', "unknown bottom blob 'y'"),
    (INPUT + 'layer { name: "y" type: "Input" top: "y" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 6 } } }\n'
             'layer { name: "e" type: "Eltwise" bottom: "x" bottom: "y" top: "z" }', "layer 'e' \\(Eltwise\\): bottom 1 has shape"),
    (INPUT + 'layer { name: "y" type: "Input" top: "y" input_param { shape { dim: 2 dim: 3 dim: 2 dim: 9 } } }\n'
             'layer { name: "c" type: "Crop" bottom: "x" bottom: "y" top: "z" }', "layer 'c' \\(Crop\\): crop of 9"),
    (INPUT + 'layer { name: "y" type: "Input" top: "y" input_param { shape { dim: 2 dim: 7 dim: 4 dim: 5 } } }\n'
             'layer { name: "c" type: "Concat" bottom: "x" bottom: "y" top: "z" concat_param { axis: 2 } }',
     "layer 'c' \\(Concat\\): bottom 1 has shape"),
    (INPUT + 'layer { name: "y" type: "Input" top: "y" input_param { shape { dim: 2 dim: 4 dim: 6 } } }\n'
             'layer { name: "l" type: "SoftmaxWithLoss" bottom: "x" bottom: "y" top: "loss" }',
     "layer 'l' \\(SoftmaxWithLoss\\): label count 48"),
    (INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" top: "z" }', "layer 'r' \\(ReLU\\): produces 1 top"),
])
def test_bad_nets_name_the_layer(text, message):
    with pytest.raises(NetError, match=message):
        make(text)


def test_label_outside_classes_is_an_error():
    net = make(INPUT + '''
    layer { name: "l" type: "Input" top: "l" input_param { shape { dim: 2 dim: 1 dim: 4 dim: 5 } } }
    layer { name: "loss" type: "SoftmaxWithLoss" bottom: "x" bottom: "l" top: "loss" loss_param { ignore_label: 255 } }''')
    net.blobs['l'].data[...] = 255
    net.forward()
    net.blobs['l'].data[0, 0, 0, 0] = 7
    with pytest.raises(NetError, match="layer 'loss'.*label 7 outside \\[0, 3\\)"):
        net.forward()


PY_LAYER = '''
import numpy as np
import torchcaffe as caffe

class Doubler(caffe.Layer):
    def setup(self, bottom, top):
        self.factor = float(self.param_str or 2)
        self.calls = []
        self.blobs.add_blob(1)
        self.blobs[0].data[...] = 0.5
    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)
    def forward(self, bottom, top):
        self.calls.append(('forward', self.phase))
        top[0].data[...] = bottom[0].data * self.factor
    def backward(self, top, propagate_down, bottom):
        self.calls.append(('backward', list(propagate_down)))
        if propagate_down[0]:
            bottom[0].diff[...] = top[0].diff * self.factor
'''


def test_python_layer(tmp_path, monkeypatch):
    (tmp_path / 'my_layers.py').write_text(PY_LAYER)
    monkeypatch.syspath_prepend(str(tmp_path))
    net = make('force_backward: true\n' + INPUT + '''
    layer { name: "py" type: "Python" bottom: "x" top: "y"
            python_param { module: "my_layers" layer: "Doubler" param_str: "3" } }''', caffe.TRAIN)
    net.blobs['x'].data[...] = 2
    out = net.forward()
    assert np.all(out['y'] == 6)
    net.backward(y=np.ones((2, 3, 4, 5), np.float32))
    assert np.all(net.blobs['x'].diff == 3)
    layer = net.layer_dict['py']
    assert layer.calls == [('forward', caffe.TRAIN), ('backward', [True])]
    assert net.params['py'][0].data[0] == 0.5 and layer.type == 'Python'
    sys.modules.pop('my_layers', None)


def test_python_layer_missing_module():
    with pytest.raises(NetError, match="layer 'py' \\(Python\\): cannot import module 'no_such_mod'"):
        make(INPUT + 'layer { name: "py" type: "Python" bottom: "x" top: "y" '
                     'python_param { module: "no_such_mod" layer: "X" } }')


def test_named_params_are_shared():
    net = make(INPUT + '''
    layer { name: "a" type: "InnerProduct" bottom: "x" top: "a" param { name: "w" } param { name: "b" }
            inner_product_param { num_output: 2 weight_filler { type: "gaussian" } } }
    layer { name: "b" type: "InnerProduct" bottom: "x" top: "b" param { name: "w" } param { name: "b" }
            inner_product_param { num_output: 2 } }''')
    assert len(net.learnable_params) == 2
    net.params['a'][0].data[...] = 3
    assert np.all(net.params['b'][0].data == 3)
    out = net.forward(x=np.ones((2, 3, 4, 5), np.float32))
    np.testing.assert_array_equal(out['a'], out['b'])


def test_blob_host_writes_reach_the_engine():
    net = make(INPUT + 'layer { name: "t" type: "Power" bottom: "x" top: "y" power_param { scale: 2 } }')
    data = net.blobs['x'].data
    data[...] = 1.5
    net.forward()
    assert np.all(net.blobs['y'].data == 3)
    net.blobs['x'].data = 4  # the property setter writes in place too
    assert np.all(net.forward()['y'] == 8)


def test_nan_in_loaded_weights_is_reported(tmp_path):
    text = INPUT + 'layer { name: "c" type: "Convolution" bottom: "x" top: "c" convolution_param { num_output: 2 kernel_size: 1 } }\n'
    net = make(text)
    net.params['c'][0].data[...] = 1
    net.params['c'][0].data[0, 1] = np.nan
    net.params['c'][1].data[0] = np.inf
    net.save(str(tmp_path / 'w.caffemodel'))
    with pytest.warns(UserWarning) as record:
        make(text).copy_from(str(tmp_path / 'w.caffemodel'))
    assert [str(w.message) for w in record] == [
        "%s: param %d of layer 'c' holds 1 NaN or infinite values of %d" % (tmp_path / 'w.caffemodel', j, n)
        for j, n in ((0, 6), (1, 2))]
