"""Upgrades of old nets and solvers, checked against what Caffe's upgrade tools wrote."""
from pathlib import Path

import numpy as np
import pytest

from torchcaffe import io
from torchcaffe.errors import FormatError
from torchcaffe.formats import prototxt, read_net, read_solver, read_weights
from torchcaffe.formats.upgrade import upgrade_net, upgrade_solver
from torchcaffe.proto import caffe_pb2

GOLDEN = Path(__file__).parent.parent / 'golden'
V1_NET = GOLDEN / 'v1_net'
V1 = caffe_pb2.V1LayerParameter


def net_from(text):
    return prototxt.parse(text, caffe_pb2.NetParameter())


def upgraded(text):
    net = net_from(text)
    assert upgrade_net(net, 'test.prototxt') is True
    return net


def assert_same_net(net, expected_text):
    expected = net_from(expected_text)
    assert prototxt.to_text(net) == prototxt.to_text(expected)
    assert net == expected


# --- v1_net: Caffe's own upgrade output ----------------------------------------------------

def test_v1_prototxt_upgrades_to_caffes_text():
    expected = (V1_NET / 'upgraded.prototxt').read_text()
    assert prototxt.to_text(read_net(V1_NET / 'net.prototxt')) == expected
    assert str(np.load(V1_NET / 'golden.npz')['meta/upgraded_prototxt']) == expected


def test_v1_caffemodel_upgrades_to_caffes_bytes():
    net = read_weights(V1_NET / 'weights.caffemodel')
    assert net.SerializeToString() == (V1_NET / 'upgraded.caffemodel').read_bytes()


def test_v1_params_have_caffes_shapes_and_values():
    golden = np.load(V1_NET / 'golden.npz')
    for name in ('weights', 'upgraded', 'resaved'):
        layers = {l.name: l for l in read_weights(V1_NET / (name + '.caffemodel')).layer}
        seen = []
        for key in golden:
            if key.startswith('meta/param_shape/'):
                layer, i = key.split('/')[2:]
                blob = layers[layer].blobs[int(i)]
                shape = tuple(golden[key])
                assert io.shape_equals(blob, shape), (name, key, io.blob_shape(blob))
                value = io.blobproto_to_array(blob).reshape(shape)
                np.testing.assert_array_equal(value, golden['param/%s/%s' % (layer, i)])
                seen.append(shape)
        assert sorted(seen) == sorted([(4, 3, 3, 3), (4,), (5, 64), (5,)])
    # The old files keep the legacy 4-d shape right-aligned; Caffe's net.save writes N-d.
    fc = {l.name: l for l in read_weights(V1_NET / 'upgraded.caffemodel').layer}['fc']
    assert io.blob_shape(fc.blobs[0]) == (1, 1, 5, 64)
    assert not io.shape_equals(fc.blobs[0], (64, 5))
    fc = {l.name: l for l in read_weights(V1_NET / 'resaved.caffemodel').layer}['fc']
    assert io.blob_shape(fc.blobs[0]) == (5, 64)


# --- input fields -------------------------------------------------------------------------

def layers_of(path):
    return list(read_net(GOLDEN / 'input_shape' / path).layer)


def test_legacy_input_forms_become_the_same_input_layer():
    golden = np.load(GOLDEN / 'input_shape' / 'golden.npz')
    from_shape = layers_of('net.prototxt')              # input + input_shape
    from_dim = layers_of('net_input_dim.prototxt')      # input + input_dim
    from_layer = layers_of('net_input_layer.prototxt')  # already an Input layer: no upgrade
    assert from_shape == from_dim
    assert [l.name for l in from_shape] == list(golden['meta/layer_names'])
    assert [l.name for l in from_layer] == list(golden['meta/layer_names/net_input_layer.prototxt'])
    assert from_shape[0].name == 'input' and from_shape[0].type == 'Input'
    from_layer[0].name = 'input'
    assert from_layer == from_shape
    net = prototxt.read(GOLDEN / 'input_shape' / 'net_input_layer.prototxt',
                        caffe_pb2.NetParameter)
    assert upgrade_net(net) is False


def test_two_inputs_by_input_dim():
    net = upgraded('input: "a" input: "b" input_dim: 1 input_dim: 2 input_dim: 3 input_dim: 4 '
                   'input_dim: 5 input_dim: 6 input_dim: 7 input_dim: 8 '
                   'layer { name: "c" type: "Concat" bottom: "a" bottom: "b" top: "c" }')
    assert_same_net(net, '''
        layer { name: "input" type: "Input" top: "a" top: "b"
                input_param { shape { dim: 1 dim: 2 dim: 3 dim: 4 }
                              shape { dim: 5 dim: 6 dim: 7 dim: 8 } } }
        layer { name: "c" type: "Concat" bottom: "a" bottom: "b" top: "c" }''')


def test_inputs_without_shapes_are_dropped():
    # Old caffemodels list their inputs without dims; Caffe just removes them.
    net = upgraded('input: "data" layer { name: "x" type: "ReLU" bottom: "data" top: "x" }')
    assert_same_net(net, 'layer { name: "x" type: "ReLU" bottom: "data" top: "x" }')


@pytest.mark.parametrize('text, message', [
    ('input: "a" input_dim: 1 input_dim: 2 input_dim: 3', '1 inputs but 3 input_dim values'),
    ('input: "a" input: "b" input_shape { dim: 1 }', '2 inputs but 1 input_shape entries'),
])
def test_bad_input_fields(text, message):
    with pytest.raises(FormatError, match='^test.prototxt: ' + message):
        upgrade_net(net_from(text), 'test.prototxt')


# --- V0 -----------------------------------------------------------------------------------

V0_NET = '''
name: "v0"
input: "data"
input_dim: 1 input_dim: 3 input_dim: 8 input_dim: 8
layers { layer { name: "pad1" type: "padding" pad: 2 } bottom: "data" top: "pad1" }
layers {
  layer { name: "conv1" type: "conv" num_output: 4 kernelsize: 3 stride: 2 group: 1
          biasterm: false weight_filler { type: "gaussian" std: 0.01 }
          blobs_lr: 1 blobs_lr: 2 weight_decay: 1 weight_decay: 0
          blobs { num: 1 channels: 1 height: 1 width: 1 data: 0.5 } }
  bottom: "pad1" top: "conv1" }
layers { layer { name: "relu1" type: "relu" } bottom: "conv1" top: "conv1" }
layers { layer { name: "pad2" type: "padding" pad: 1 } bottom: "conv1" top: "pad2" }
layers { layer { name: "pool1" type: "pool" pool: AVE kernelsize: 3 stride: 2 }
         bottom: "pad2" top: "pool1" }
layers { layer { name: "norm1" type: "lrn" local_size: 3 alpha: 0.0001 beta: 0.75 k: 2 }
         bottom: "pool1" top: "norm1" }
layers { layer { name: "fc" type: "innerproduct" num_output: 5
                 bias_filler { type: "constant" value: 0.1 } }
         bottom: "norm1" top: "fc" }
layers { layer { name: "drop" type: "dropout" dropout_ratio: 0.4 } bottom: "fc" top: "fc" }
layers { layer { name: "prob" type: "softmax" } bottom: "fc" top: "prob" }
'''

V0_NET_UPGRADED = '''
name: "v0"
layer { name: "input" type: "Input" top: "data"
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv1" type: "Convolution" bottom: "data" top: "conv1"
        param { lr_mult: 1 decay_mult: 1 } param { lr_mult: 2 decay_mult: 0 }
        blobs { num: 1 channels: 1 height: 1 width: 1 data: 0.5 }
        convolution_param { num_output: 4 bias_term: false pad: 2 kernel_size: 3 group: 1
                            stride: 2 weight_filler { type: "gaussian" std: 0.01 } } }
layer { name: "relu1" type: "ReLU" bottom: "conv1" top: "conv1" }
layer { name: "pool1" type: "Pooling" bottom: "conv1" top: "pool1"
        pooling_param { pool: AVE kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "norm1" type: "LRN" bottom: "pool1" top: "norm1"
        lrn_param { local_size: 3 alpha: 0.0001 beta: 0.75 k: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "norm1" top: "fc"
        inner_product_param { num_output: 5 bias_filler { type: "constant" value: 0.1 } } }
layer { name: "drop" type: "Dropout" bottom: "fc" top: "fc"
        dropout_param { dropout_ratio: 0.4 } }
layer { name: "prob" type: "Softmax" bottom: "fc" top: "prob" }
'''


def test_v0_net_upgrades_with_padding_folded_in():
    assert_same_net(upgraded(V0_NET), V0_NET_UPGRADED)


def test_v0_data_layer_settings():
    net = upgraded('layers { layer { name: "data" type: "data" source: "train_lmdb" '
                   'batchsize: 4 meanfile: "mean.binaryproto" cropsize: 227 mirror: true '
                   'scale: 0.5 rand_skip: 3 } top: "data" top: "label" }')
    assert_same_net(net, '''
        layer { name: "data" type: "Data" top: "data" top: "label"
                transform_param { scale: 0.5 mirror: true crop_size: 227
                                  mean_file: "mean.binaryproto" }
                data_param { source: "train_lmdb" batch_size: 4 rand_skip: 3 } }''')


@pytest.mark.parametrize('layers, message', [
    ('layers { layer { name: "a" type: "convolution" } top: "x" }',
     'layer "a": unknown V0 layer type "convolution"'),
    ('layers { layer { name: "a" type: "relu" num_output: 3 } top: "x" }',
     'layer "a": V0 setting num_output does not apply to a "relu" layer'),
    ('layers { layer { name: "a" type: "relu" } bottom: "nowhere" top: "x" }',
     'layer "a": unknown bottom blob "nowhere"'),
    ('layers { layer { name: "p" type: "padding" pad: 1 } top: "x" }'
     'layers { layer { name: "r" type: "relu" } bottom: "x" top: "y" }',
     'layer "r": a padding layer can only feed a conv or pool layer'),
])
def test_bad_v0_nets(layers, message):
    with pytest.raises(FormatError, match='^test.prototxt: ' + message):
        upgrade_net(net_from(layers), 'test.prototxt')


# --- V1 -----------------------------------------------------------------------------------

def test_v1_layer_fields():
    net = upgraded('''
        layers { name: "ip" type: INNER_PRODUCT bottom: "x" top: "y"
                 include { phase: TRAIN } exclude { stage: "deploy" }
                 param: "w" param: "b" blob_share_mode: PERMISSIVE blobs_lr: 1 blobs_lr: 2
                 weight_decay: 3 loss_weight: 0.5
                 inner_product_param { num_output: 2 } dropout_param { dropout_ratio: 0.1 } }
        layers { name: "d" type: DECONVOLUTION bottom: "y" top: "z" blobs_lr: 0 }
        layers { name: "none" type: NONE }''')
    assert_same_net(net, '''
        layer { name: "ip" type: "InnerProduct" bottom: "x" top: "y"
                include { phase: TRAIN } exclude { stage: "deploy" }
                param { name: "w" share_mode: PERMISSIVE lr_mult: 1 decay_mult: 3 }
                param { name: "b" lr_mult: 2 } loss_weight: 0.5
                inner_product_param { num_output: 2 } dropout_param { dropout_ratio: 0.1 } }
        layer { name: "d" type: "Deconvolution" bottom: "y" top: "z" param { lr_mult: 0 } }
        layer { name: "none" type: "" }''')


def test_v1_data_layer_transformation_fields():
    net = upgraded('''
        layers { name: "data" type: DATA top: "data"
                 data_param { source: "db" mean_file: "m" crop_size: 5 mirror: true scale: 2 } }
        layers { name: "images" type: IMAGE_DATA top: "im" }''')
    # Caffe's upgrade marks data_param and transform_param of every data layer present.
    assert_same_net(net, '''
        layer { name: "data" type: "Data" top: "data"
                transform_param { scale: 2 mirror: true crop_size: 5 mean_file: "m" }
                data_param { source: "db" } }
        layer { name: "images" type: "ImageData" top: "im"
                transform_param { } image_data_param { } }''')


def test_every_v1_type_and_param_has_a_v2_form():
    for name in V1.LayerType.keys():
        net = upgraded('layers { name: "x" type: %s }' % name)
        assert net.layer[0].type or name == 'NONE'
    v2 = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name
    for field in V1.DESCRIPTOR.fields:
        if field.name.endswith('_param'):
            assert v2[field.name].message_type is field.message_type, field.name


def test_layer_and_layers_together():
    with pytest.raises(FormatError, match='both "layer" .* and "layers"'):
        upgrade_net(net_from('layer { name: "a" } layers { name: "b" }'))


# --- BatchNorm, current nets, solvers ------------------------------------------------------

def test_old_batch_norm_params_get_zero_rates():
    net = net_from('layer { name: "bn" type: "BatchNorm" param { lr_mult: 1 } param { } '
                   'param { decay_mult: 0 } }')
    assert upgrade_net(net) is True
    assert_same_net(net, 'layer { name: "bn" type: "BatchNorm" '
                    + 'param { lr_mult: 0 decay_mult: 0 } ' * 3 + '}')
    assert upgrade_net(net) is False


CURRENT_NETS = [p for p in sorted(GOLDEN.glob('*/*.prototxt')) if p.name != 'solver.prototxt'
                and p.parent.name not in ('v1_net', 'input_shape')]


@pytest.mark.parametrize('path', CURRENT_NETS, ids=lambda p: '%s/%s' % (p.parent.name, p.name))
def test_current_nets_are_left_alone(path):
    net = prototxt.read(path, caffe_pb2.NetParameter)
    before = net.SerializeToString()
    assert upgrade_net(net) is False
    assert net.SerializeToString() == before


def test_solver_type_enum():
    solver = prototxt.parse('solver_type: ADAM base_lr: 0.1', caffe_pb2.SolverParameter())
    assert upgrade_solver(solver) is True
    assert prototxt.to_text(solver) == 'base_lr: 0.1\ntype: "Adam"\n'
    assert upgrade_solver(solver) is False
    both = prototxt.parse('solver_type: SGD type: "SGD"', caffe_pb2.SolverParameter())
    with pytest.raises(FormatError, match='^s.prototxt: solver_type .* both'):
        upgrade_solver(both, 's.prototxt')


def test_read_solver(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / 'snaps').mkdir()
    (tmp_path / 'a.prototxt').write_text('net: "n.prototxt" solver_type: NESTEROV')
    (tmp_path / 'b.prototxt').write_text('snapshot_prefix: "snaps"')
    (tmp_path / 'c.prototxt').write_text('snapshot_prefix: "train"')
    a = read_solver('a.prototxt')
    assert (a.type, a.snapshot_prefix) == ('Nesterov', 'a')
    assert read_solver('b.prototxt').snapshot_prefix == 'snaps/b'
    assert read_solver('c.prototxt').snapshot_prefix == 'train'
    golden = read_solver(GOLDEN / 'solver_adam' / 'solver.prototxt')
    assert (golden.type, golden.snapshot_prefix) == ('Adam', 'snapshot')


def test_malformed_prototxt_names_file_line_and_column(tmp_path):
    path = tmp_path / 'bad.prototxt'
    path.write_text('name: "x"\nlayer {\n  name: "a"\n  typo: "b"\n}\n')
    with pytest.raises(FormatError, match=r'bad\.prototxt:4:3: .*typo'):
        read_net(path)
    path.write_text('base_lr: 0.1\nmax_iter: ten\n')
    with pytest.raises(FormatError, match=r'bad\.prototxt:2:11: '):
        read_solver(path)
