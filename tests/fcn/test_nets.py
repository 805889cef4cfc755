"""The experiments' nets and solvers: regenerated as committed, with the released settings."""
import ast
import os
import shutil
import subprocess
import sys
from collections import namedtuple

import pytest

import torchcaffe

from torchcaffe.errors import NetError
from torchcaffe.formats import prototxt
from torchcaffe.proto import caffe_pb2

from nets import classifiers
from nets.data import input_shapes, with_inputs

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

Experiment = namedtuple('Experiment', 'splits data_layer heads crops base_lr max_iter test_iter '
                                      'snapshot')
VOC, NYUD = ('train', 'val'), ('trainval', 'test')
VOC_LAYERS = ('SBDDSegDataLayer', 'VOCSegDataLayer')
ONE_HEAD = {'loss': ('score', 'label')}
SIFT_HEADS = {'loss': ('score_sem', 'sem'), 'loss_geo': ('score_geo', 'geo')}
CROPS = {32: {'score': 19}, 16: {'score_pool4c': 5, 'score': 27},
         8: {'score_pool4c': 5, 'score_pool3c': 9, 'score': 31}}


def _sift_crops(stride):
    """Crops of both SIFT Flow heads: score_pool4c -> score_pool4_semc, score -> score_sem."""
    return {(name[:-1] + '_%sc' % head if name != 'score' else 'score_' + head): offset
            for head in ('sem', 'geo') for name, offset in CROPS[stride].items()}


EXPERIMENTS = {
    'voc-fcn32s': Experiment(VOC, VOC_LAYERS, ONE_HEAD, CROPS[32], 1e-10, 100000, 736, 4000),
    'voc-fcn16s': Experiment(VOC, VOC_LAYERS, ONE_HEAD, CROPS[16], 1e-12, 100000, 736, 4000),
    'voc-fcn8s': Experiment(VOC, VOC_LAYERS, ONE_HEAD, CROPS[8], 1e-14, 100000, 736, 4000),
    'voc-fcn8s-atonce': Experiment(VOC, VOC_LAYERS, ONE_HEAD, CROPS[8], 1e-10, 300000, 736,
                                   4000),
    'voc-fcn-alexnet': Experiment(VOC, VOC_LAYERS, ONE_HEAD, {'score': 18}, 1e-4, 100000, 736,
                                  4000),
    'voc-fcn-googlenet': Experiment(VOC, VOC_LAYERS, ONE_HEAD, {'score': 1}, 1e-10, 100000,
                                    736, 4000),
    'nyud-fcn32s-color': Experiment(NYUD, ('NYUDSegDataLayer',) * 2, ONE_HEAD, CROPS[32],
                                    1e-10, 300000, 654, 2000),
    'nyud-fcn32s-hha': Experiment(NYUD, ('NYUDSegDataLayer',) * 2, ONE_HEAD, CROPS[32], 1e-10,
                                  300000, 654, 2000),
    'nyud-fcn32s-color-d': Experiment(NYUD, ('NYUDSegDataLayer',) * 2, ONE_HEAD, CROPS[32],
                                      1e-10, 300000, 654, 2000),
    'nyud-fcn32s-color-hha': Experiment(NYUD, ('NYUDSegDataLayer',) * 2, ONE_HEAD, CROPS[32],
                                        1e-12, 300000, 654, 2000),
    'siftflow-fcn32s': Experiment(NYUD, ('SIFTFlowSegDataLayer',) * 2, SIFT_HEADS,
                                  _sift_crops(32), 1e-10, 300000, 200, 0),
    'siftflow-fcn16s': Experiment(NYUD, ('SIFTFlowSegDataLayer',) * 2, SIFT_HEADS,
                                  _sift_crops(16), 1e-12, 300000, 200, 0),
    'siftflow-fcn8s': Experiment(NYUD, ('SIFTFlowSegDataLayer',) * 2, SIFT_HEADS,
                                 _sift_crops(8), 1e-12, 300000, 200, 0),
    'pascalcontext-fcn32s': Experiment(VOC, ('PASCALContextSegDataLayer',) * 2, ONE_HEAD,
                                       CROPS[32], 1e-10, 300000, 5105, 4000),
    'pascalcontext-fcn16s': Experiment(VOC, ('PASCALContextSegDataLayer',) * 2, ONE_HEAD,
                                       CROPS[16], 1e-12, 300000, 5105, 4000),
    'pascalcontext-fcn8s': Experiment(VOC, ('PASCALContextSegDataLayer',) * 2, ONE_HEAD,
                                      CROPS[8], 1e-14, 300000, 5105, 4000),
}
CLASSES = {'voc': {'label': 21}, 'nyud': {'label': 40}, 'siftflow': {'sem': 33, 'geo': 3},
           'pascalcontext': {'label': 60}}
NOT_RELEASED = {'voc-fcn-googlenet', 'nyud-fcn32s-color-d'}
NORMALIZED_LOSS = {'voc-fcn-alexnet'}
# Python data layer parameters per dataset and split (paths relative to the data root).
PARAMS = {
    'voc': {'train': dict(sbdd_dir='sbdd/dataset', split='train'),
            'val': dict(voc_dir='pascal/VOC2011', split='seg11valid')},
    'nyud': {s: dict(nyud_dir='nyud', split=s) for s in NYUD},
    'siftflow': {s: dict(siftflow_dir='sift-flow', split=s)
                 for s in NYUD},
    'pascalcontext': {s: dict(voc_dir='pascal/VOC2010', context_dir='pascal-context', split=s)
                      for s in VOC},
}
MEANS = {'voc': (104.00699, 116.66877, 122.67892), 'siftflow': (114.578, 115.294, 108.353),
         'pascalcontext': (104.007, 116.669, 122.679)}
NYUD_TOPS = {'color': ['color', 'label'], 'hha': ['hha', 'label'],
             'color-d': ['color', 'depth', 'label'], 'color-hha': ['color', 'hha', 'label']}
NYUD_MEANS = {'color': (116.19, 97.203, 92.318), 'hha': (132.431, 94.076, 118.477),
              'depth': (7.844,)}


def dataset(name):
    return name.split('-')[0]


def read_net(name, split):
    return prototxt.read(os.path.join(ROOT, name, split + '.prototxt'), caffe_pb2.NetParameter)


def by_name(net):
    return {layer.name: layer for layer in net.layer}


def producer(net, top):
    return next(l for l in net.layer if top in l.top and top not in l.bottom)


def generated_files(directory):
    return sorted(f for f in os.listdir(directory) if f.endswith('.prototxt'))


def test_every_experiment_directory_is_listed():
    found = {d for d in os.listdir(ROOT) if os.path.isfile(os.path.join(ROOT, d, 'net.py'))}
    assert found == set(EXPERIMENTS)


@pytest.fixture(scope='module')
def regenerated(tmp_path_factory):
    """{(experiment, where): directory} of each net.py run from the root and from inside.

    Each copy of a script sits beside links to the packages it needs and runs without
    PYTHONPATH: it must find them from its own location. All run at once, for speed.
    """
    env = {k: v for k, v in os.environ.items() if k != 'PYTHONPATH'}
    runs = {}
    for name in EXPERIMENTS:
        for where in ('root', 'inside'):
            root = tmp_path_factory.mktemp(where)
            for package in ('nets', 'torchcaffe'):
                os.symlink(os.path.join(ROOT, package), root / package)
            (root / name).mkdir()
            shutil.copy(os.path.join(ROOT, name, 'net.py'), root / name)
            cwd, script = (root, os.path.join(name, 'net.py')) if where == 'root' else \
                (root / name, 'net.py')
            runs[name, where] = (root / name, subprocess.Popen(
                [sys.executable, script], cwd=cwd, env=env, stderr=subprocess.PIPE))
    results = {}
    for key, (directory, process) in runs.items():
        errors = process.communicate()[1].decode()
        results[key] = directory, process.returncode, errors
    return results


@pytest.mark.parametrize('where', ['root', 'inside'])
@pytest.mark.parametrize('name', sorted(EXPERIMENTS))
def test_net_py_regenerates_the_committed_files(name, where, regenerated):
    directory, returncode, errors = regenerated[name, where]
    assert returncode == 0, errors
    committed = os.path.join(ROOT, name)
    assert generated_files(directory) == generated_files(committed)
    for fname in generated_files(committed):
        with open(os.path.join(committed, fname), 'rb') as f:
            assert (directory / fname).read_bytes() == f.read(), fname


@pytest.mark.parametrize('name', sorted(EXPERIMENTS))
def test_solver_has_the_released_settings(name):
    exp = EXPERIMENTS[name]
    solver = prototxt.read(os.path.join(ROOT, name, 'solver.prototxt'), caffe_pb2.SolverParameter)
    assert solver.train_net == exp.splits[0] + '.prototxt'
    assert list(solver.test_net) == [exp.splits[1] + '.prototxt']
    assert list(solver.test_iter) == [exp.test_iter]
    assert solver.test_interval == 999999999 and not solver.test_initialization
    assert (solver.display, solver.average_loss) == (20, 20)
    assert solver.type == 'SGD' and solver.lr_policy == 'fixed'
    assert solver.base_lr == pytest.approx(exp.base_lr, rel=1e-6)
    assert solver.weight_decay == pytest.approx(5e-4)
    assert solver.max_iter == exp.max_iter
    assert solver.snapshot == exp.snapshot
    assert solver.snapshot_prefix == ('snapshot/train' if exp.snapshot else '')
    if name == 'voc-fcn-alexnet':  # accumulated batches, standard momentum
        assert (solver.iter_size, solver.momentum) == (20, pytest.approx(0.9))
    else:  # heavy learning: online, high momentum
        assert (solver.iter_size, solver.momentum) == (1, pytest.approx(0.99))


@pytest.mark.parametrize('name', sorted(EXPERIMENTS))
def test_caffemodel_url_only_for_released_models(name):
    path = os.path.join(ROOT, name, 'caffemodel-url')
    if name in NOT_RELEASED:
        assert not os.path.exists(path)
    else:
        with open(path) as f:
            url = f.read()
        assert url.startswith('http://dl.caffe.berkeleyvision.org/') and url.endswith(
            '.caffemodel\n')


def check_heads(net, name, deploy=False):
    exp, classes = EXPERIMENTS[name], CLASSES[dataset(name)]
    layers = by_name(net)
    losses = [l for l in net.layer if l.type == 'SoftmaxWithLoss']
    assert not losses if deploy else [l.name for l in losses] == list(exp.heads)
    for loss, (score, label) in exp.heads.items():
        crop = producer(net, score)
        assert crop.type == 'Crop'
        upscore = producer(net, crop.bottom[0])
        assert upscore.convolution_param.num_output == classes[label]
        if not deploy:
            assert list(layers[loss].bottom) == [score, label]
            assert layers[loss].loss_param.ignore_label == 255
            assert layers[loss].loss_param.normalize == (name in NORMALIZED_LOSS)
    assert {l.name: (l.crop_param.axis, list(l.crop_param.offset))
            for l in net.layer if l.type == 'Crop'} == \
        {crop: (2, [offset]) for crop, offset in exp.crops.items()}


@pytest.mark.parametrize('name', sorted(EXPERIMENTS))
def test_train_and_test_nets(name):
    exp = EXPERIMENTS[name]
    data = dataset(name)
    nets = [read_net(name, split) for split in exp.splits]
    for split, layer_class, net in zip(exp.splits, exp.data_layer, nets):
        check_heads(net, name)
        source = net.layer[0]
        assert (source.type, source.python_param.module) == ('Python', 'layers')
        assert source.python_param.layer == layer_class
        params = ast.literal_eval(source.python_param.param_str)
        assert params.pop('seed') == 1337
        if data == 'nyud':
            modality = name[len('nyud-fcn32s-'):]
            assert params.pop('tops') == NYUD_TOPS[modality]
            assert params.pop('mean') == {top: NYUD_MEANS[top] for top in NYUD_TOPS[modality]
                                          if top != 'label'}
        else:
            assert params.pop('mean') == MEANS[data]
        assert params == PARAMS[data][split]
    # Train and test nets differ in their data source only.
    for net in nets:
        net.layer[0].python_param.ClearField('param_str')
        net.layer[0].python_param.ClearField('layer')
    assert nets[0] == nets[1]


@pytest.mark.parametrize('name', sorted(EXPERIMENTS))
def test_deploy_net_is_the_train_net_without_data_loss_and_dropout(name):
    exp = EXPERIMENTS[name]
    deploy, train = read_net(name, 'deploy'), read_net(name, exp.splits[0])
    source = deploy.layer[0]
    assert (source.name, source.type) == ('input', 'Input')
    data_tops = [t for t in train.layer[0].top if t not in ('label', 'sem', 'geo')]
    assert list(source.top) == data_tops
    check_heads(deploy, name, deploy=True)
    kept = [l for l in train.layer[1:] if l.type not in ('Dropout', 'SoftmaxWithLoss')]
    assert list(deploy.layer[1:]) == kept


def test_at_once_scales_its_skips():
    layers = by_name(read_net('voc-fcn8s-atonce', 'train'))
    for pool, scale in (('pool4', 0.01), ('pool3', 0.0001)):
        layer = layers['scale_' + pool]
        assert (layer.type, list(layer.bottom)) == ('Scale', [pool])
        assert layer.scale_param.filler.type == 'constant'
        assert layer.scale_param.filler.value == pytest.approx(scale)
        assert [p.lr_mult for p in layer.param] == [0]
        assert list(layers['score_' + pool].bottom) == ['scale_' + pool]
    assert 'scale_pool4' not in by_name(read_net('voc-fcn8s', 'train'))


def test_fusion_nets():
    early = by_name(read_net('nyud-fcn32s-color-d', 'trainval'))
    assert list(early['data'].bottom) == ['color', 'depth'] and early['data'].type == 'Concat'
    assert list(early['conv1_1_bgrd'].bottom) == ['data'] and 'conv1_1' not in early
    late = by_name(read_net('nyud-fcn32s-color-hha', 'trainval'))
    fused = late['score_fused']
    assert list(fused.bottom) == ['score_frcolor', 'score_frhha']
    assert list(fused.eltwise_param.coeff) == [0.5, 0.5]
    assert list(late['conv1_1hha'].bottom) == ['hha'] and list(late['score'].bottom) == [
        'upscore', 'color']


@pytest.mark.parametrize('build, fc6_kernel', [
    (classifiers.vgg16, 7), (classifiers.caffenet, 6), (classifiers.bvlc_googlenet, None)])
def test_classifier_twins_share_layer_names(build, fc6_kernel):
    classifier, twin = build(), build(fully_conv=True)
    assert [l.name for l in classifier.layer] == [l.name for l in twin.layer]
    changed = [(a.name, a.type, b.type) for a, b in zip(classifier.layer, twin.layer)
               if a.type != b.type]
    fcs = ['fc6', 'fc7', 'fc8'] if fc6_kernel else ['loss3/classifier']
    assert changed == [(fc, 'InnerProduct', 'Convolution') for fc in fcs]
    layers = by_name(twin)
    assert layers[fcs[-1]].convolution_param.num_output == 1000
    if fc6_kernel:
        assert list(layers['fc6'].convolution_param.kernel_size) == [fc6_kernel]
    assert twin.layer[-1].type == 'Softmax'


def test_with_inputs_swaps_python_layers_for_inputs():
    net = read_net('siftflow-fcn8s', 'trainval')
    swapped = with_inputs(net, input_shapes(32, 48))
    source = swapped.layer[0]
    assert (source.name, source.type, list(source.top)) == ('data', 'Input',
                                                            ['data', 'sem', 'geo'])
    assert [list(s.dim) for s in source.input_param.shape] == [[1, 3, 32, 48], [1, 1, 32, 48],
                                                               [1, 1, 32, 48]]
    assert list(swapped.layer[1:]) == list(net.layer[1:])
    assert net.layer[0].type == 'Python'  # the original is untouched
    with pytest.raises(NetError, match="layer 'data': no input shape for top\\(s\\) geo"):
        with_inputs(net, {'data': (1, 3, 8, 8), 'sem': (1, 1, 8, 8)})


def instantiate(caffe, name, split, tmp_path):
    """Build an experiment's net (data layers as Inputs) in ``caffe``; check the score shapes."""
    exp = EXPERIMENTS[name]
    height, width = 64, 80
    if split == 'deploy':
        net = read_net(name, 'deploy')
        height, width = net.layer[0].input_param.shape[0].dim[2:]
    else:
        net = with_inputs(read_net(name, exp.splits[split]), input_shapes(height, width))
    path = tmp_path / 'net.prototxt'
    prototxt.write(path, net)
    built = caffe.Net(str(path), caffe.TEST)
    classes = CLASSES[dataset(name)]
    for score, label in exp.heads.values():
        assert built.blobs[score].data.shape == (1, classes[label], height, width)


@pytest.mark.parametrize('split', [0, 1, 'deploy'])
@pytest.mark.parametrize('name', sorted(EXPERIMENTS))
def test_nets_instantiate_in_real_caffe(name, split, pycaffe, tmp_path):
    instantiate(pycaffe, name, split, tmp_path)


@pytest.mark.parametrize('split', [0, 1, 'deploy'])
@pytest.mark.parametrize('name', sorted(EXPERIMENTS))
def test_nets_instantiate_in_torch_engine(name, split, tmp_path):
    instantiate(torchcaffe, name, split, tmp_path)
