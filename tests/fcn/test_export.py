"""fcn.export: Caffe nets as plain PyTorch (model.py + weights.pt) and as ONNX, checked
against the engine at several input sizes and against real Caffe's golden outputs."""
import ast
import glob
import importlib.util
import os
import subprocess
import sys
import textwrap

import numpy as np
import onnx
import onnxruntime
import pytest
import torch
from google.protobuf import text_format

import fcn
import golden
import torchcaffe
from fcn.exporter import LAYERS, export
from nets import classifiers
from torchcaffe import formats

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TOL = 1e-5  # max |exported - engine| over max |engine|
SIZES = [(1, 37, 53), (2, 20, 31)]  # (batch, height, width): odd sizes, the engine reshaped to each


def randomize(net, seed=0):
    """Every parameter N(0, 1/fan_in) (vectors N(0, 0.1)): no zero score layers, no blow-up."""
    g = torch.Generator().manual_seed(seed)
    for params in net.params.values():
        for p in params:
            std = 1 / np.sqrt(np.prod(p.data.shape[1:])) if p.data.ndim > 1 else 0.1
            p.data[...] = (torch.randn(p.data.shape, generator=g) * std).numpy()
    return net


def make_net(text, seed=0):
    """An engine net of random weights from prototxt ``text`` (a NetParameter)."""
    param = torchcaffe.proto.caffe_pb2.NetParameter()
    text_format.Merge(textwrap.dedent(text), param)
    return randomize(torchcaffe.Net(param, torchcaffe.TEST), seed)


def feeds(net, size, seed=0):
    rng = np.random.RandomState(seed)
    return {name: (rng.randn(size[0], net.blobs[name].shape[1], *size[1:]) * 50).astype(np.float32)
            for name in net.inputs}


def engine_run(net, inputs):
    for name, x in inputs.items():
        net.blobs[name].reshape(*x.shape)
        net.blobs[name].data[...] = x
    net.forward()
    return {o: net.blobs[o].data.copy() for o in net.outputs}


def imports(path):
    """The top-level modules a Python file imports."""
    names = set()
    for node in ast.walk(ast.parse(open(path).read())):
        if isinstance(node, ast.Import):
            names |= {a.name.split('.')[0] for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            names.add(node.module.split('.')[0])
    return names


def load_model(directory):
    """Net() of the written model.py with weights.pt loaded strictly (weights_only)."""
    path = os.path.join(directory, 'model.py')
    assert imports(path) == {'torch'}
    spec = importlib.util.spec_from_file_location('exported_model', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    model = module.Net().eval()
    model.load_state_dict(torch.load(os.path.join(directory, 'weights.pt'), weights_only=True), strict=True)
    return model


def torch_runner(directory):
    model = load_model(directory)

    def run(inputs):
        with torch.no_grad():
            y = model(*(torch.from_numpy(inputs[name]) for name in model.inputs))
        y = y if isinstance(y, dict) else {model.outputs[0]: y}
        return {k: v.numpy() for k, v in y.items()}
    return run


def onnx_runner(path):
    onnx.checker.check_model(path)
    model = onnx.load(path, load_external_data=False)
    assert model.opset_import[0].version >= 17
    session = onnxruntime.InferenceSession(path, providers=['CPUExecutionProvider'])
    input_names = [i.name for i in session.get_inputs()]
    # an input changed in place comes out as <name>_out
    names = [o.name[:-4] if o.name[:-4] in input_names else o.name for o in session.get_outputs()]
    return lambda inputs: dict(zip(names, session.run(None, inputs)))


def rel_error(expected, actual):
    assert expected.shape == actual.shape, (expected.shape, actual.shape)
    return float(np.abs(expected.astype(np.float64) - actual).max() / max(np.abs(expected).max(), 1e-30))


def check(net, tmp_path, sizes=SIZES):
    """Export ``net`` both ways; at each size both agree with the engine."""
    outputs = list(net.outputs)
    export(net, out=tmp_path / 'pytorch')
    source = (tmp_path / 'pytorch' / 'model.py').read_text()
    for name in net.params:  # each learned layer is an attribute named after it, or says its name
        assert 'self.%s = ' % name in source or '  # %s\n' % name in source, name
    runners = {'pytorch': torch_runner(tmp_path / 'pytorch'),
               'onnx': onnx_runner(export(net, out=tmp_path / 'onnx', format='onnx')[0])}
    worst = dict.fromkeys(runners, 0.0)
    for size in sizes:
        inputs = feeds(net, size)
        expected = engine_run(net, inputs)
        for fmt, run in runners.items():
            got = run(inputs)
            assert sorted(got) == sorted(outputs), fmt
            for name in outputs:
                err = rel_error(expected[name], got[name])
                assert err <= TOL, (fmt, size, name, err)
                worst[fmt] = max(worst[fmt], err)
    print('export %s: worst relative error %s' % (tmp_path.name, worst))


INPUT = '''
layer { name: "input" type: "Input" top: "data" input_param { shape { dim: 1 dim: 4 dim: 37 dim: 53 } } }
'''


def conv(name, bottom, params, top=None):
    return 'layer { name: "%s" type: "Convolution" bottom: "%s" top: "%s" convolution_param { %s } }\n' % (
        name, bottom, top or name, params)


def pool(name, params, bottom='data'):
    return 'layer { name: "%s" type: "Pooling" bottom: "%s" top: "%s" pooling_param { %s } }\n' % (
        name, bottom, name, params)


def layer(name, type_, bottoms, params='', tops=None):
    return 'layer { name: "%s" type: "%s" %s %s %s }\n' % (
        name, type_, ' '.join('bottom: "%s"' % b for b in bottoms),
        ' '.join('top: "%s"' % t for t in (tops or [name])), params)


POOLS = [('k3s2', 'kernel_size: 3 stride: 2'), ('k2s2p1', 'kernel_size: 2 stride: 2 pad: 1'),
         ('k3s2p2', 'kernel_size: 3 stride: 2 pad: 2'),  # pad over half the kernel: beyond torch
         ('k3s2p1floor', 'kernel_size: 3 stride: 2 pad: 1 round_mode: FLOOR'),
         ('rect', 'kernel_h: 3 kernel_w: 2 stride_h: 2 stride_w: 1 pad_h: 1 pad_w: 0'),
         ('global', 'global_pooling: true')]

LAYER_NETS = {
    'conv': INPUT + conv('plain', 'data', 'num_output: 3 kernel_size: 3 stride: 2 pad: 1')
    + conv('dilated', 'data', 'num_output: 2 kernel_size: 3 dilation: 2')
    + conv('grouped', 'data', 'num_output: 6 group: 2 kernel_h: 3 kernel_w: 5 pad_h: 1 pad_w: 2 '
           'stride_h: 1 stride_w: 2 bias_term: false'),
    'deconv': INPUT + 'layer { name: "up" type: "Deconvolution" bottom: "data" top: "up" '
    'convolution_param { num_output: 6 group: 2 kernel_size: 4 stride: 2 pad: 1 } }\n'
    'layer { name: "up2" type: "Deconvolution" bottom: "data" top: "up2" '
    'convolution_param { num_output: 3 kernel_size: 3 dilation: 2 bias_term: false } }\n',
    'pool_max': INPUT + ''.join(pool(n, 'pool: MAX ' + p) for n, p in POOLS),
    'pool_ave': INPUT + ''.join(pool(n, 'pool: AVE ' + p) for n, p in POOLS),
    'crop': INPUT + conv('small', 'data', 'num_output: 2 kernel_size: 5')
    + 'layer { name: "up" type: "Deconvolution" bottom: "data" top: "up" '
      'convolution_param { num_output: 3 kernel_size: 4 stride: 2 } }\n'
    + layer('fcn', 'Crop', ['up', 'data'], 'crop_param { axis: 2 offset: 1 }')
    + layer('chw', 'Crop', ['data', 'small'], 'crop_param { axis: 1 offset: 1 offset: 2 offset: 3 }')
    + layer('hw', 'Crop', ['data', 'small'], 'crop_param { offset: 2 offset: 1 }')
    + layer('zero', 'Crop', ['data', 'small']),
    'eltwise': INPUT + conv('a', 'data', 'num_output: 3 kernel_size: 1')
    + conv('b', 'data', 'num_output: 3 kernel_size: 1') + conv('c', 'data', 'num_output: 3 kernel_size: 1')
    + layer('sum', 'Eltwise', ['a', 'b'], 'eltwise_param { coeff: 0.5 coeff: -2 }')
    + layer('prod', 'Eltwise', ['a', 'b', 'c'], 'eltwise_param { operation: PROD }')
    + layer('max', 'Eltwise', ['a', 'b', 'c'], 'eltwise_param { operation: MAX }'),
    'concat': INPUT + conv('a', 'data', 'num_output: 4 kernel_size: 1')
    + layer('channels', 'Concat', ['data', 'a']) + layer('rows', 'Concat', ['data', 'a'], 'concat_param { axis: 2 }'),
    'scale': INPUT + layer('scaled', 'Scale', ['data'], 'scale_param { bias_term: true }')
    + layer('scalar', 'Scale', ['data'], 'scale_param { num_axes: 0 }')
    + layer('biased', 'Bias', ['data'])
    + layer('g', 'Pooling', ['data'], 'pooling_param { pool: AVE global_pooling: true }')
    + layer('nc', 'Flatten', ['g'])
    + layer('by_blob', 'Scale', ['data', 'nc'], 'scale_param { axis: 0 }')
    + layer('plus_blob', 'Bias', ['data', 'nc'], 'bias_param { axis: 0 }'),
    'lrn': INPUT + layer('across', 'LRN', ['data'], 'lrn_param { local_size: 3 alpha: 0.01 beta: 0.75 k: 2 }')
    + layer('within', 'LRN', ['data'], 'lrn_param { local_size: 5 alpha: 0.02 beta: 0.6 norm_region: WITHIN_CHANNEL }'),
    'neurons': INPUT + conv('a', 'data', 'num_output: 3 kernel_size: 1')
    + layer('leaky', 'ReLU', ['a'], 'relu_param { negative_slope: 0.1 }', ['a'])
    + layer('drop_in', 'Dropout', ['a'], '', ['a']) + layer('drop', 'Dropout', ['a'], '', ['dropped'])
    + layer('sig', 'Sigmoid', ['a']) + layer('tanh', 'TanH', ['dropped'])
    + layer('pow', 'Power', ['sig'], 'power_param { power: 2 scale: 0.5 shift: 1 }')
    + layer('prob', 'Softmax', ['a']) + layer('prob_w', 'Softmax', ['a'], 'softmax_param { axis: -1 }'),
    'inner_product': INPUT + layer('g', 'Pooling', ['data'], 'pooling_param { pool: MAX global_pooling: true }')
    + layer('fc', 'InnerProduct', ['g'], 'inner_product_param { num_output: 5 }')
    + layer('fc_t', 'InnerProduct', ['fc'], 'inner_product_param { num_output: 3 transpose: true bias_term: false }')
    + layer('rows', 'InnerProduct', ['g'], 'inner_product_param { num_output: 2 axis: 2 }')
    + layer('last', 'InnerProduct', ['g'], 'inner_product_param { num_output: 2 axis: -1 }')
    + layer('flat', 'Flatten', ['data'], 'flatten_param { axis: 2 }')
    + layer('reshaped', 'Reshape', ['data'], 'reshape_param { shape { dim: 0 dim: 2 dim: -1 dim: 0 } }')
    + layer('partial', 'Reshape', ['data'], 'reshape_param { shape { dim: 2 dim: 2 } axis: 1 num_axes: 1 }'),
    # Split tops share the bottom's data, as in Caffe: an in-place layer on one changes both
    'split': INPUT + layer('split', 'Split', ['data'], '', ['a', 'b'])
    + layer('relu', 'ReLU', ['a'], '', ['a']) + conv('conv', 'b', 'num_output: 2 kernel_size: 3'),
    'two_inputs': '''
layer { name: "input" type: "Input" top: "data" top: "aux"
  input_param { shape { dim: 1 dim: 4 dim: 37 dim: 53 } shape { dim: 1 dim: 2 dim: 37 dim: 53 } } }
''' + conv('a', 'aux', 'num_output: 4 kernel_size: 1') + layer('sum', 'Eltwise', ['data', 'a']),
    # names that are not identifiers or that clash with model.py's own names
    'names': INPUT + conv('inception_3a/1x1', 'data', 'num_output: 2 kernel_size: 1')
    + conv('1x1', 'inception_3a/1x1', 'num_output: 2 kernel_size: 1', 'F')
    + conv('forward', 'F', 'num_output: 2 kernel_size: 1', 'self')
    + layer('crop', 'Crop', ['self', 'data'], '', ['class'])
    + layer('quote\\"and\\nnewline', 'ReLU', ['class'], '', ['class'])
    + layer('inception_3a_1x1', 'Scale', ['class'], 'scale_param { bias_term: true }', ['torch']),
}


@pytest.mark.parametrize('name', sorted(LAYER_NETS))
def test_layer_nets_agree_with_engine(tmp_path, name):
    check(make_net(LAYER_NETS[name]), tmp_path)


def test_layer_nets_cover_every_supported_type():
    used = {l.split('type: "')[1].split('"')[0] for text in LAYER_NETS.values() for l in text.split('layer {')[1:]}
    assert set(LAYERS) <= used


def test_names_are_sanitized_and_kept_in_comments(tmp_path):
    export(make_net(LAYER_NETS['names']), out=tmp_path / 'm')
    source = (tmp_path / 'm' / 'model.py').read_text()
    assert 'self.inception_3a_1x1 = nn.Conv2d(4, 2, 1)  # inception_3a/1x1' in source
    assert 'class_2 = F.relu(class_2)  # quote\\"and\\nnewline' in source
    assert 'def forward(self, data):' in source
    state = torch.load(tmp_path / 'm' / 'weights.pt', weights_only=True)
    assert {'inception_3a_1x1.weight', '_1x1.weight', 'forward_2.weight', 'inception_3a_1x1_2'} <= set(state)


def test_several_outputs_come_as_a_dict_and_onnx_names_are_caffe_blobs(tmp_path):
    net = make_net(LAYER_NETS['names'] + layer('s', 'Sigmoid', ['self']))
    export(net, out=tmp_path / 'o', format='onnx')
    model = onnx.load(str(tmp_path / 'o' / 'model.onnx'))
    assert [i.name for i in model.graph.input] == ['data']
    assert [o.name for o in model.graph.output] == sorted(net.outputs) == ['s', 'torch']
    dims = model.graph.input[0].type.tensor_type.shape.dim
    assert [d.dim_param or d.dim_value for d in dims] == ['batch', 4, 'data_2', 'data_3']
    export(net, out=tmp_path / 'p')
    y = load_model(tmp_path / 'p')(torch.zeros(1, 4, 9, 9))
    assert sorted(y) == ['s', 'torch']


def narrow(path, factor=8):
    """The NetParameter at ``path`` with every layer of 64 or more outputs ``factor`` times
    narrower: the same layers, kernels, strides, pads, crops and names, and fast to test."""
    param = formats.read_net(path)
    for l in param.layer:
        for p in (l.convolution_param, l.inner_product_param):
            if p.num_output >= 64:
                p.num_output //= factor
    return param


def narrowed(path, factor=8):
    """An engine net of ``narrow``, with random weights."""
    return randomize(torchcaffe.Net(narrow(path, factor), torchcaffe.TEST))


def at_size(net, size):
    """``net`` with its inputs reshaped to (batch, height, width) ``size`` (export traces there)."""
    for name in net.inputs:
        net.blobs[name].reshape(size[0], net.blobs[name].shape[1], *size[1:])
    net.reshape()
    return net


EXPERIMENTS = sorted(os.path.dirname(p) for p in glob.glob(os.path.join(ROOT, '*', 'deploy.prototxt')))


def test_all_experiments_found():
    assert len(EXPERIMENTS) == 16


@pytest.mark.parametrize('experiment', [os.path.basename(e) for e in EXPERIMENTS])
def test_experiment_nets(tmp_path, experiment):
    net = at_size(narrowed(os.path.join(ROOT, experiment, 'deploy.prototxt')), (1, 97, 131))
    check(net, tmp_path, [(1, 97, 131), (1, 45, 67)] + [(1, 500, 500), (1, 333, 517)] * (experiment == 'voc-fcn8s'))


@pytest.mark.parametrize('experiment', ['voc-fcn8s', 'voc-fcn-alexnet', 'voc-fcn-googlenet'])
def test_full_width_nets(tmp_path, experiment):
    net = at_size(narrowed(os.path.join(ROOT, experiment, 'deploy.prototxt'), 1), (1, 97, 131))
    check(net, tmp_path, [(1, 97, 131), (1, 61, 75)])


@pytest.mark.parametrize('arch,full', [('caffenet', True), ('bvlc_googlenet', True), ('vgg16', False)])
def test_ilsvrc_classifiers(tmp_path, arch, full):
    path = tmp_path / 'classifier.prototxt'
    path.write_text(str(getattr(classifiers, arch)()))
    net = narrowed(str(path), 1 if full else 8)
    size = net.blobs['data'].shape[2]  # inner products fix the input size
    check(net, tmp_path, [(1, size, size), (2, size, size)])


def exportable(case):
    """Whether golden ``case`` has a TEST net whose layers export, and something to compare."""
    info = golden.INDEX[case]
    param = formats.read_net(golden.path(case, 'net.prototxt'))
    types = {l.type for l in param.layer}
    return (info['family'] in ('layer', 'net', 'format') and types & set(LAYERS)
            and types <= set(LAYERS) | {'Input', 'SoftmaxWithLoss', 'SigmoidCrossEntropyLoss',
                                        'EuclideanLoss', 'Accuracy', 'Silence'}
            and case not in ('pool_max_mask_top', 'dropout_train_stats'))


GOLDEN = [c for c in sorted(golden.INDEX) if exportable(c)]


def test_golden_cases_selected():
    assert len(GOLDEN) >= 50 and 'v1_net' in GOLDEN and 'tiny_googlenet_block' in GOLDEN


@pytest.mark.filterwarnings('ignore:export. dropped')
@pytest.mark.parametrize('case', GOLDEN)
def test_golden_cases_match_real_caffe(tmp_path, case):
    """The exported module and ONNX give what BVLC Caffe computed (the V1-format v1_net too)."""
    g = golden.Golden(case)
    net, weights = golden.path(case, 'net.prototxt'), golden.path(case, 'weights.caffemodel')
    export(net, weights, tmp_path / 'pytorch')
    model = load_model(tmp_path / 'pytorch')
    inputs = {name: g['input/' + name] for name in model.inputs}
    runs = {'pytorch': torch_runner(tmp_path / 'pytorch'),
            'onnx': onnx_runner(export(net, weights, tmp_path / 'onnx', format='onnx')[0])}
    for fmt, run in runs.items():
        got = run(inputs)
        assert sorted(got) == sorted(model.outputs)
        for name, y in got.items():
            expected = g.get('data/' + name, g.get('input/' + name))
            assert rel_error(expected, y) <= TOL, (fmt, name, rel_error(expected, y))
            print('golden %s %s %s: relative error %.3g' % (case, fmt, name, rel_error(expected, y)))


# an FCN in miniature, with both helpers that need care under torch.compile
SMALL_FCN = INPUT + conv('conv', 'data', 'num_output: 4 kernel_size: 3 pad: 1') \
    + layer('relu', 'ReLU', ['conv'], '', ['conv']) \
    + pool('pool', 'pool: MAX kernel_size: 3 stride: 2 pad: 2', 'conv') \
    + layer('norm', 'LRN', ['pool'], 'lrn_param { local_size: 3 alpha: 0.01 beta: 0.75 '
            'norm_region: WITHIN_CHANNEL }') \
    + 'layer { name: "up" type: "Deconvolution" bottom: "norm" top: "up" ' \
      'convolution_param { num_output: 3 kernel_size: 4 stride: 2 } }\n' \
    + layer('score', 'Crop', ['up', 'data'], 'crop_param { axis: 2 offset: 1 }')


def test_torch_compile_gives_the_same_outputs(tmp_path):
    net = make_net(SMALL_FCN)
    export(net, out=tmp_path / 'm')
    compiled = torch.compile(load_model(tmp_path / 'm'), dynamic=True)
    for size in [(1, 37, 53), (1, 20, 31)]:
        inputs = feeds(net, size)
        with torch.no_grad():
            y = compiled(torch.from_numpy(inputs['data'])).numpy()
        assert rel_error(engine_run(net, inputs)['score'], y) <= TOL


@pytest.mark.parametrize('name', ['crop', 'pool_max', 'pool_ave', 'lrn', 'two_inputs', 'inner_product'])
def test_onnx_runs_in_opencv(tmp_path, name):
    import cv2
    net = make_net(LAYER_NETS[name])
    dnn = cv2.dnn.readNetFromONNX(export(net, out=tmp_path / 'o', format='onnx')[0])
    for size in SIZES:
        inputs = feeds(net, size)
        for blob, x in inputs.items():
            dnn.setInput(x, blob)
        expected = engine_run(net, inputs)
        for blob, y in zip(net.outputs, dnn.forward(list(net.outputs))):
            assert rel_error(expected[blob], y) <= TOL, (size, blob)


def test_model_py_runs_without_the_engine(tmp_path):
    export(make_net(SMALL_FCN), out=tmp_path / 'm')
    code = textwrap.dedent("""
        import sys
        sys.modules.update(dict.fromkeys(['torchcaffe', 'fcn', 'nets', 'caffe']))  # importing them fails
        sys.path.insert(0, sys.argv[1])
        import torch, model
        net = model.Net().eval()
        net.load_state_dict(torch.load(sys.argv[1] + '/weights.pt', weights_only=True))
        print(tuple(net(torch.zeros(1, 4, 37, 53)).shape))
    """)
    run = subprocess.run([sys.executable, '-I', '-c', code, str(tmp_path / 'm')],
                         capture_output=True, text=True, cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == '(1, 3, 37, 53)'


def test_weights_load_with_weights_only_and_strictly(tmp_path):
    paths = export(make_net(LAYER_NETS['scale']), out=tmp_path / 'm')
    assert [os.path.basename(p) for p in paths] == ['model.py', 'weights.pt']
    state = torch.load(paths[1], weights_only=True)
    assert sorted(state) == ['biased', 'scalar', 'scaled', 'scaled_bias']
    assert state['scalar'].shape == () and state['scaled'].dtype == torch.float32
    model = load_model(tmp_path / 'm')
    model.load_state_dict(state, strict=True)
    with pytest.raises(RuntimeError, match='Missing key'):
        model.load_state_dict({k: v for k, v in state.items() if k != 'biased'}, strict=True)


UNSUPPORTED = INPUT + conv('a', 'data', 'num_output: 2 kernel_size: 1') \
    + layer('cut', 'Slice', ['a'], 'slice_param { slice_point: 1 }', ['s1', 's2']) \
    + conv('b', 's1', 'num_output: 1 kernel_size: 1') + layer('sum', 'Eltwise', ['b', 's2'])


def write(tmp_path, text, name='net.prototxt'):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return str(path)


@pytest.mark.parametrize('format', ['pytorch', 'onnx'])
def test_unsupported_layer_is_named_and_nothing_is_written(tmp_path, format):
    message = r"layer 'cut' \(Slice\): cannot be exported; supported: Bias, Concat, Convolution, "
    with pytest.raises(ValueError, match=message):
        export(write(tmp_path, UNSUPPORTED), None, tmp_path / 'out', format=format)
    with pytest.raises(ValueError, match=message):
        export(make_net(UNSUPPORTED), out=tmp_path / 'out', format=format)
    # a type the engine does not know either: still the export's error, not the engine's
    with pytest.raises(ValueError, match=r"layer 'bn' \(BatchNorm\): cannot be exported"):
        export(write(tmp_path, UNSUPPORTED.replace('"Slice"', '"BatchNorm"').replace('"cut"', '"bn"')),
               None, tmp_path / 'out', format=format)
    assert sorted(os.listdir(tmp_path)) == ['net.prototxt']
    (tmp_path / 'kept').mkdir()
    (tmp_path / 'kept' / 'old.txt').write_text('old')
    with pytest.raises(ValueError):
        export(make_net(UNSUPPORTED), out=tmp_path / 'kept', format=format, overwrite=True)
    assert os.listdir(tmp_path / 'kept') == ['old.txt']
    assert sorted(os.listdir(tmp_path)) == ['kept', 'net.prototxt']
    with pytest.raises(ValueError, match=r"layer 'pool' \(Pooling\): cannot be exported: its second top"):
        export(golden.path('pool_max_mask_top', 'net.prototxt'), None, tmp_path / 'mask', format=format)


def test_a_failure_while_writing_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise RuntimeError('disk full')
    monkeypatch.setattr(torch.onnx, 'export', fail)
    with pytest.raises(RuntimeError, match='disk full'):
        export(make_net(SMALL_FCN), out=tmp_path / 'a' / 'b', format='onnx')
    assert os.listdir(tmp_path) == []


def test_output_directory_is_replaced_only_with_overwrite(tmp_path):
    net = make_net(SMALL_FCN)
    out = tmp_path / 'out'
    out.mkdir()
    export(net, out=out)  # empty: fine
    with pytest.raises(FileExistsError, match='overwrite=True'):
        export(net, out=out, format='onnx')
    assert sorted(os.listdir(out)) == ['model.py', 'weights.pt']
    assert export(net, out=out, format='onnx', overwrite=True) == [str(out / 'model.onnx')]
    assert sorted(os.listdir(out)) == ['model.onnx']
    assert sorted(os.listdir(tmp_path)) == ['out']
    (tmp_path / 'file').write_text('')
    with pytest.raises(FileExistsError, match='not a directory'):
        export(net, out=tmp_path / 'file', overwrite=True)
    with pytest.raises(ValueError, match="format must be one of pytorch, onnx, not 'tf'"):
        export(net, out=tmp_path / 'x', format='tf')


def test_an_fcn_model_exports(tmp_path):
    text = SMALL_FCN.replace('dim: 4', 'dim: 3')
    net = make_net(text)
    weights = str(tmp_path / 'w.caffemodel')
    net.save(weights)
    model = fcn.load(write(tmp_path, text), weights)
    export(model, out=tmp_path / 'm')
    assert 'BGR with the mean 104.007, 116.669, 122.679 subtracted' in (tmp_path / 'm' / 'model.py').read_text()
    inputs = feeds(net, (1, 20, 31))
    with torch.no_grad():
        y = load_model(tmp_path / 'm')(torch.from_numpy(inputs['data'])).numpy()
    assert rel_error(engine_run(model.net, inputs)['score'], y) <= TOL
    with pytest.raises(ValueError, match='weights go with a prototxt path'):
        export(model, weights, tmp_path / 'n')
    assert fcn.export(model, out=tmp_path / 'o', format='onnx') == [str(tmp_path / 'o' / 'model.onnx')]


def test_a_train_net_loses_its_data_and_loss_layers(tmp_path):
    body = conv('conv', 'data', 'num_output: 3 kernel_size: 3 pad: 1', 'score')
    deploy = make_net(INPUT + body)
    weights = str(tmp_path / 'w.caffemodel')
    deploy.save(weights)
    train = write(tmp_path, """
        layer { name: "data" type: "Python" top: "data" top: "label"
          python_param { module: "no_such_module" layer: "Data" } }
        """ + body + """
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss" }
        layer { name: "accuracy" type: "Accuracy" bottom: "score" bottom: "label" top: "accuracy" }
        """)
    with pytest.warns(UserWarning, match=r"dropped layer 'loss' \(SoftmaxWithLoss\); dropped layer "
                                         r"'accuracy' \(Accuracy\); data layer\(s\) data replaced: data"):
        export(train, weights, tmp_path / 'm')
    model = load_model(tmp_path / 'm')
    assert (model.inputs, model.outputs) == (('data',), ('score',))
    inputs = feeds(deploy, (1, 20, 31))
    with torch.no_grad():
        y = model(torch.from_numpy(inputs['data'])).numpy()
    assert rel_error(engine_run(deploy, inputs)['score'], y) <= 1e-6  # NHWC vs NCHW rounding


def test_the_command_exports_both_formats_and_keeps_what_exists(tmp_path):
    text = SMALL_FCN.replace('dim: 4', 'dim: 3')
    net = make_net(text)
    weights = str(tmp_path / 'w.caffemodel')
    net.save(weights)
    deploy = write(tmp_path, text)

    def command(*args):
        return subprocess.run([sys.executable, '-m', 'fcn', 'export', '--deploy', deploy, '--weights', weights,
                               *args], capture_output=True, text=True, timeout=300, cwd=str(tmp_path))
    inputs = feeds(net, (1, 20, 31))
    expected = engine_run(net, inputs)['score']
    r = command('--out', 'py')
    assert r.returncode == 0 and 'wrote %s' % (tmp_path / 'py' / 'model.py') in r.stdout, r.stderr
    assert os.stat(tmp_path / 'py').st_mode & 0o077 == 0o777 & ~_umask() & 0o077  # not mkdtemp's private 0700
    with torch.no_grad():
        assert rel_error(expected, load_model(tmp_path / 'py')(torch.from_numpy(inputs['data'])).numpy()) <= TOL
    r = command('--out', 'onnx', '--format', 'onnx')
    assert r.returncode == 0, r.stderr
    assert rel_error(expected, onnx_runner(str(tmp_path / 'onnx' / 'model.onnx'))(inputs)['score']) <= TOL
    r = command('--out', 'py', '--format', 'onnx')
    assert r.returncode == 1 and r.stderr.startswith('export: %s exists' % (tmp_path / 'py')) \
        and '--overwrite' in r.stderr
    assert sorted(os.listdir(tmp_path / 'py')) == ['model.py', 'weights.pt']


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


@pytest.mark.parametrize('experiment', ['voc-fcn8s', 'voc-fcn-alexnet', 'voc-fcn-googlenet', 'siftflow-fcn8s'])
def test_exports_agree_with_live_caffe(pycaffe, tmp_path, experiment):
    """The reference pycaffe runs the net with the same weights at an odd size; both exports
    agree with its outputs within the engine's own net tolerance."""
    net = at_size(narrowed(os.path.join(ROOT, experiment, 'deploy.prototxt')), (1, 61, 75))
    path, weights = str(tmp_path / 'deploy.prototxt'), str(tmp_path / 'w.caffemodel')
    formats.prototxt.write(path, narrow(os.path.join(ROOT, experiment, 'deploy.prototxt')))
    net.save(weights)
    theirs = pycaffe.Net(path, weights, pycaffe.TEST)
    inputs = feeds(net, (1, 61, 75))
    for name, x in inputs.items():
        theirs.blobs[name].reshape(*x.shape)
        theirs.blobs[name].data[...] = x
    theirs.forward()
    export(net, out=tmp_path / 'pytorch')
    runners = [torch_runner(tmp_path / 'pytorch'), onnx_runner(export(net, out=tmp_path / 'onnx', format='onnx')[0])]
    for run in runners:
        got = run(inputs)
        for name in net.outputs:
            assert golden.nerr(theirs.blobs[name].data, got[name]) <= 1e-4, name
