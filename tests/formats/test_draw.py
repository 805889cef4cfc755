"""torchcaffe.draw against pycaffe's caffe.draw: the same graphs, node for node, and
pycaffe's own test_draw.py."""
import glob
import os
import shutil
import sys

import pytest
from google.protobuf import text_format

import bvlcsrc
import torchcaffe
from torchcaffe import draw
from torchcaffe.proto import caffe_pb2

pytest.importorskip('pydot', reason='pydot is the "draw" extra')
needs_dot = pytest.mark.skipif(shutil.which('dot') is None,
                               reason="graphviz's dot program is not installed")

NET = '''name: "phases"
layer { name: "data" type: "Data" top: "data" top: "label" include { phase: TRAIN }
        data_param { batch_size: 16 } }
layer { name: "data" type: "Input" top: "data" include { phase: TEST }
        input_param { shape { dim: 1 dim: 3 dim: 8 dim: 8 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        param { lr_mult: 2 } param { lr_mult: 0 }
        convolution_param { num_output: 4 kernel_size: 3 stride: 2 pad: 1 } }
layer { name: "relu" type: "ReLU" bottom: "conv" top: "conv" }
layer { name: "pool" type: "Pooling" bottom: "conv" top: "pool"
        pooling_param { pool: AVE kernel_size: 2 stride: 2 } }
layer { name: "up" type: "Deconvolution" bottom: "pool" top: "up"
        convolution_param { num_output: 2 kernel_size: 4 stride: 2 } }
layer { name: "fc" type: "InnerProduct" bottom: "up" top: "fc" param { lr_mult: 0 }
        inner_product_param { num_output: 5 } }
layer { name: "loss" type: "SoftmaxWithLoss" bottom: "fc" bottom: "label" top: "loss"
        exclude { phase: TEST } }
'''


def net_param(text=NET):
    return text_format.Parse(text, caffe_pb2.NetParameter())


@pytest.fixture(scope='module')
def bvlc_tree(tmp_path_factory):
    if bvlcsrc.tarball() is None:
        pytest.skip('the BVLC source tarball is not downloaded: run scripts/build_pycaffe.sh')
    return bvlcsrc.unpack(bvlcsrc.tarball(), str(tmp_path_factory.mktemp('bvlc')))


def bvlc_nets(root):
    for path in sorted(glob.glob(os.path.join(root, '**', '*.prototxt'), recursive=True)):
        if 'solver' not in os.path.basename(path):
            net = caffe_pb2.NetParameter()
            text_format.Merge(open(path).read(), net)
            yield path, net


@pytest.mark.parametrize('rankdir', ['LR', 'TB', 'BT'])
@pytest.mark.parametrize('phase', [None, caffe_pb2.TRAIN, caffe_pb2.TEST])
@pytest.mark.parametrize('display_lrm', [False, True])
@pytest.mark.parametrize('label_edges', [True, False])
def test_graph_as_pycaffes(pycaffe, rankdir, phase, display_lrm, label_edges):
    import caffe.draw
    net = net_param()
    args = (rankdir, label_edges, phase, display_lrm)
    assert draw.get_pydot_graph(net, *args).to_string() == \
        caffe.draw.get_pydot_graph(net, *args).to_string()


def test_graphs_of_bvlc_models_as_pycaffes(pycaffe, bvlc_tree):
    import caffe.draw
    nets = list(bvlc_nets(bvlc_tree))
    assert len(nets) > 20
    for path, net in nets:
        for phase in (None, caffe_pb2.TRAIN):
            mine = draw.get_pydot_graph(net, 'TB', phase=phase, display_lrm=True).to_string()
            theirs = caffe.draw.get_pydot_graph(net, 'TB', phase=phase,
                                                display_lrm=True).to_string()
            assert mine == theirs, path


def test_graph_nodes_and_edges():
    graph = draw.get_pydot_graph(net_param(), 'LR', phase=caffe_pb2.TEST)
    names = {n.get_name() for n in graph.get_nodes()}
    assert {'data', 'conv', 'pool', 'up', 'fc'} <= names and 'label' not in names
    assert r'"conv\n(Convolution)\nkernel size: 3\nstride: 2\npad: 1"' in names
    assert r'"pool\n(Pooling AVE)\nkernel size: 2\nstride: 2\npad: 0"' in names
    edges = {(e.get_source(), e.get_destination(), e.get('label')) for e in graph.get_edges()}
    assert (r'"conv\n(Convolution)\nkernel size: 3\nstride: 2\npad: 1"', 'conv', '4') in edges
    assert ('"relu\\n(ReLU)"', 'conv', '""') in edges and ('conv', '"relu\\n(ReLU)"', '""') in edges
    assert not any('loss' in src + dst for src, dst, _ in edges)  # TRAIN only
    train = draw.get_pydot_graph(net_param(), 'TB', phase=caffe_pb2.TRAIN, display_lrm=True)
    labels = {n.get_name() for n in train.get_nodes()}
    assert '"conv (Convolution) kernel size: 3 stride: 2 pad: 1 lr mult: 2.0, 0.0"' in labels
    assert '"fc (InnerProduct) lr mult: 0.0, 1.0"' in labels
    assert any(e.get('label') == 'Batch 16' for e in train.get_edges())


def test_lr_mult_and_phase_rules_errors():
    relu = net_param().layer[3]
    with pytest.raises(ValueError, match='ReLU layers do not have a learning rate multiplier'):
        draw.get_layer_lr_mult(relu)
    both = net_param('layer { name: "x" type: "ReLU" include { phase: TRAIN } '
                     'exclude { phase: TEST } }')
    with pytest.raises(ValueError, match='layer x has both include and exclude specified'):
        draw.get_pydot_graph(both, 'LR', phase=caffe_pb2.TRAIN)


@needs_dot
@pytest.mark.parametrize('ext, magic', [('png', b'\x89PNG'), ('svg', b'<?xml'), ('raw', b'digraph')])
def test_draw_net_to_file(tmp_path, ext, magic):
    path = str(tmp_path / ('net.' + ext))
    draw.draw_net_to_file(net_param(), path, rankdir='TB', phase=caffe_pb2.TRAIN)
    with open(path, 'rb') as f:
        assert f.read().startswith(magic)
    assert draw.draw_net(net_param(), 'LR', ext='png').startswith(b'\x89PNG')


def test_missing_pydot_says_how_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, 'pydot', None)
    monkeypatch.setitem(sys.modules, 'pydotplus', None)
    with pytest.raises(ImportError, match='pip install pydot'):
        draw.get_pydot_graph(net_param(), 'LR')


def test_reachable_as_caffe_draw():
    assert torchcaffe.draw is draw and 'draw' in dir(torchcaffe)
