"""NetSpec, layers (L) and params (P) behave as pycaffe's net_spec."""
import os

import pytest

import torchcaffe as caffe
from torchcaffe import layers as L, params as P
from torchcaffe.errors import NetError
from torchcaffe.formats import prototxt
from torchcaffe.proto import caffe_pb2

from tiny_nets import GOLDEN, GOLDEN_CASES, build_golden


def layer(net, name):
    return next(l for l in net.layer if l.name == name)


def test_unnamed_tops_get_type_and_count_names():
    data = L.Input(shape=dict(dim=[1, 3, 8, 8]))
    conv = L.Convolution(L.Convolution(data, kernel_size=3), kernel_size=1)
    net = conv.to_proto()
    assert [l.name for l in net.layer] == ['Input1', 'Convolution1', 'Convolution2']
    assert [list(l.top) for l in net.layer] == [['Input1'], ['Convolution1'], ['Convolution2']]
    assert list(net.layer[2].bottom) == ['Convolution1']


def test_netspec_names_layers_after_their_first_top():
    n = caffe.NetSpec()
    n.data, n.label = L.Python(module='m', layer='Data', ntop=2)
    n.conv = L.Convolution(n.data, kernel_size=1, num_output=2)
    net = n.to_proto()
    assert net.layer[0].name == 'data' and list(net.layer[0].top) == ['data', 'label']
    assert net.layer[1].name == 'conv' and list(net.layer[1].bottom) == ['data']


def test_ntop_zero_returns_the_layer_and_autonames_it():
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1]))
    silence = L.Silence(n.data, ntop=0)
    assert isinstance(silence, caffe.net_spec.Function)
    net = caffe.to_proto(silence)
    assert net.layer[-1].name == 'Silence1' and not net.layer[-1].top
    n.quiet = silence
    assert n.to_proto().layer[-1].name == 'quiet'


def test_in_place_layers_write_their_bottom():
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 4, 4]))
    n.conv = L.Convolution(n.data, kernel_size=1, num_output=1)
    n.relu = L.ReLU(n.conv, in_place=True)
    n.pool = L.Pooling(n.relu, kernel_size=2)
    net = n.to_proto()
    relu, pool = layer(net, 'relu'), layer(net, 'pool')
    assert list(relu.bottom) == list(relu.top) == ['conv']
    assert list(pool.bottom) == ['conv']


def test_keywords_route_to_the_type_parameter_or_the_layer():
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 3, 4, 4]))
    n.conv = L.Convolution(n.data, kernel_size=3, num_output=8, param=[dict(lr_mult=1)],
                           propagate_down=False, include=dict(phase=caffe_pb2.TEST),
                           loss_weight=0.5, name='renamed')
    n.up = L.Deconvolution(n.conv, kernel_size=4, stride=2)
    n.py = L.Python(n.up, module='mod', layer='Cls', param_str="{'a': 1}")
    net = n.to_proto()
    conv = layer(net, 'renamed')
    assert list(conv.convolution_param.kernel_size) == [3]
    assert conv.convolution_param.num_output == 8
    assert conv.param[0].lr_mult == 1 and list(conv.propagate_down) == [False]
    assert conv.include[0].phase == caffe_pb2.TEST and list(conv.loss_weight) == [0.5]
    assert list(conv.top) == ['conv']  # renaming the layer keeps its top's name
    up = layer(net, 'up')
    assert list(up.convolution_param.kernel_size) == [4]  # Deconvolution borrows it
    py = layer(net, 'py')
    assert (py.python_param.module, py.python_param.param_str) == ('mod', "{'a': 1}")


def test_lists_and_dicts_fill_repeated_fields_and_messages():
    n = caffe.NetSpec()
    n.a = L.Input(shape=[dict(dim=[1, 2]), dict(dim=[3])], ntop=1)
    n.b = L.Eltwise(n.a, n.a, coeff=[0.5, 2], operation=P.Eltwise.SUM)
    n.c = L.Convolution(n.b, kernel_size=(3, 5), weight_filler=dict(type='gaussian', std=0.1))
    net = n.to_proto()
    assert [list(s.dim) for s in layer(net, 'a').input_param.shape] == [[1, 2], [3]]
    assert list(layer(net, 'b').eltwise_param.coeff) == [0.5, 2]
    c = layer(net, 'c').convolution_param
    assert list(c.kernel_size) == [3, 5]
    assert (c.weight_filler.type, round(c.weight_filler.std, 6)) == ('gaussian', 0.1)


def test_enums_by_params_or_by_name():
    assert P.Pooling.MAX == caffe_pb2.PoolingParameter.MAX
    assert P.Eltwise.SUM == caffe_pb2.EltwiseParameter.SUM
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1, 1, 4, 4]))
    n.pool = L.Pooling(n.data, pool='AVE', kernel_size=2)
    assert layer(n.to_proto(), 'pool').pooling_param.pool == caffe_pb2.PoolingParameter.AVE
    with pytest.raises(AttributeError):
        P.Pooling.MEDIAN
    with pytest.raises(AttributeError):
        P.NoSuchLayer


@pytest.mark.parametrize('kwargs, message', [
    (dict(kernel_size=3, no_such_field=1), "no parameter 'no_such_field'"),
    (dict(kernel_size='three'), 'kernel_size'),
    (dict(weight_filler=3), 'expected a dict'),
])
def test_bad_parameters_name_the_layer_and_field(kwargs, message):
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1]))
    n.conv = L.Convolution(n.data, **kwargs)
    with pytest.raises(NetError, match=message) as e:
        n.to_proto()
    assert "'conv'" in str(e.value)


def test_bad_enum_name_and_bottoms_are_errors():
    n = caffe.NetSpec()
    n.data = L.Input(shape=dict(dim=[1]))
    n.pool = L.Pooling(n.data, pool='MEDIAN')
    with pytest.raises(NetError, match='MEDIAN'):
        n.to_proto()
    with pytest.raises(TypeError, match='ReLU input 0 is not a Top'):  # pycaffe's type and words
        L.ReLU('data')
    with pytest.raises(NetError):
        n.x = 3
    with pytest.raises(AttributeError):
        n.missing


def test_every_golden_net_case_is_covered():
    assert len(GOLDEN_CASES) == 11


@pytest.mark.parametrize('case', GOLDEN_CASES)
def test_builds_equal_the_golden_nets_built_by_pycaffe(case):
    golden = prototxt.read(os.path.join(GOLDEN, case, 'net.prototxt'), caffe_pb2.NetParameter)
    ours = build_golden(case)
    assert [l.name for l in ours.layer] == [l.name for l in golden.layer]
    assert ours == golden
    assert prototxt.to_text(ours) == prototxt.to_text(golden)
