"""Bad input, end to end: each case of one table runs through a public entry point
(torchcaffe.Net, Net.copy_from, get_solver, Solver.restore, the data layers inside a
Net, an experiment's solve.py) and must fail with its error type and a message that
names the file, layer or field at fault.

docs/errors.md is this table with the message each case gets; regenerate it with
``python tests/e2e/test_bad_input.py`` after changing a case or a message (a test fails
until the two agree).
"""
import collections
import os
import re
import socket
import subprocess
import sys
import textwrap

import numpy as np
import pytest
from PIL import Image

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
for path in (ROOT, os.path.join(ROOT, 'tests', 'support')):  # run as a script to regenerate the doc
    if path not in sys.path:
        sys.path.insert(0, path)

from fcn import datasets  # noqa: E402
from fcn import synthetic  # noqa: E402
import tinynet  # noqa: E402  (tests/support is on sys.path: conftest.py, or the lines above)
import torchcaffe as caffe  # noqa: E402
from torchcaffe.errors import FormatError, NetError, SolverError  # noqa: E402
from torchcaffe.formats import binaryproto  # noqa: E402
from torchcaffe.proto import caffe_pb2  # noqa: E402

DOC = os.path.join(ROOT, 'docs', 'errors.md')
GOLDEN = os.path.join(ROOT, 'tests', 'golden')

Case = collections.namedtuple('Case', 'name group what entry error pattern run')
CASES = []


def case(group, what, entry, error, pattern):
    """Register the decorated ``run(directory)`` as a case: it must raise ``error``
    with a message matching the regex ``pattern`` (after ``normalize``)."""
    def register(run):
        CASES.append(Case(run.__name__, group, what, entry, error, pattern, run))
        return run
    return register


def normalize(message, directory):
    """The message with the case's directory as <dir> and the repository as <repo>."""
    return message.replace(str(directory), '<dir>').replace(ROOT, '<repo>')


# -- helpers ----------------------------------------------------------------------

INPUT = 'layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 dim: 4 dim: 5 } } }\n'


def write(directory, name, text):
    path = os.path.join(str(directory), name)
    with open(path, 'w') as f:
        f.write(textwrap.dedent(text))
    return path


def net(directory, text, phase=caffe.TEST, name='net.prototxt'):
    return caffe.Net(write(directory, name, text), phase)


def input_layer(name, *dims):
    return ('layer { name: "%s" type: "Input" top: "%s" input_param { shape { %s } } }\n'
            % (name, name, ' '.join('dim: %d' % d for d in dims)))


CONV_NET = INPUT + '''layer { name: "conv" type: "Convolution" bottom: "x" top: "conv"
        convolution_param { num_output: 2 kernel_size: 3 } }
'''


def weights(directory, layers, name='weights.caffemodel'):
    """A caffemodel holding zero blobs of ``layers`` ({layer: [shapes]})."""
    message = caffe_pb2.NetParameter(name='source')
    for layer, shapes in layers.items():
        proto = message.layer.add(name=layer, type='Convolution')
        for shape in shapes:
            proto.blobs.add().CopyFrom(caffe.io.array_to_blobproto(np.zeros(shape, np.float32)))
    path = os.path.join(str(directory), name)
    binaryproto.write(path, message)
    return path


def voc(directory):
    """A small synthetic PASCAL VOC (4 pictures); returns (root, first val image, its label)."""
    root = synthetic.make_voc(str(directory), n=4, size=(16, 16))
    first = datasets.read_ids(os.path.join(root, 'ImageSets', 'Segmentation', 'val.txt'))[0]
    return (root, os.path.join(root, 'JPEGImages', first + '.jpg'),
            os.path.join(root, 'SegmentationClass', first + '.png'))


def data_net(directory, param_str, layer='VOCSegDataLayer'):
    """A TRAIN net fed by data layer ``layer`` of layers.py with ``param_str`` (a dict or text)."""
    text = param_str if isinstance(param_str, str) else repr(param_str)
    return net(directory, '''
        layer { name: "data" type: "Python" top: "data" top: "label"
                python_param { module: "layers" layer: "%s" param_str: "%s" } }
        layer { name: "score" type: "Convolution" bottom: "data" top: "score"
                convolution_param { num_output: 21 kernel_size: 1 } }
        layer { name: "loss" type: "SoftmaxWithLoss" bottom: "score" bottom: "label" top: "loss"
                loss_param { ignore_label: 255 } }
        ''' % (layer, text.replace('\\', '\\\\').replace('"', '\\"')), caffe.TRAIN)


def voc_net(directory, split='val'):
    return data_net(directory, {'voc_dir': voc(directory)[0], 'split': split})


def solver(directory, text, net_text=tinynet.NET):
    write(directory, 'net.prototxt', net_text)
    return caffe.get_solver(write(directory, 'solver.prototxt', 'net: "%s"\n' % os.path.join(
        str(directory), 'net.prototxt') + textwrap.dedent(text)))


def solve_py(directory, *args):
    """Run voc-fcn32s/solve.py; raise SystemExit with its last stderr line when it fails."""
    r = subprocess.run([sys.executable, os.path.join(ROOT, 'voc-fcn32s', 'solve.py'),
                        '--out', os.path.join(str(directory), 'out'), *args],
                       capture_output=True, text=True, timeout=300)
    if r.returncode:
        raise SystemExit(r.stderr.strip().splitlines()[-1])


# -- the table --------------------------------------------------------------------

@case('net prototxt', 'malformed text', 'Net', FormatError,
      r'^<dir>/net.prototxt:2:48: .*Expected ":"')
def prototxt_syntax(d):
    net(d, INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top "r" }')


@case('net prototxt', 'a field the layer does not have', 'Net', FormatError,
      r'^<dir>/net.prototxt:2:35: .*"caffe.LayerParameter" has no field named "kernel_size"')
def prototxt_unknown_field(d):
    net(d, INPUT + 'layer { name: "c" type: "Pooling" kernel_size: 2 }')


@case('net prototxt', 'a required field left out', 'Net', FormatError,
      r'^<dir>/net.prototxt: required fields missing: layer\[1\].clip_param.max$')
def prototxt_required_field(d):
    net(d, INPUT + 'layer { name: "c" type: "Clip" bottom: "x" top: "c" clip_param { min: 0 } }')


@case('net prototxt', 'a binary file given as the net', 'Net', FormatError,
      r'^<dir>/net.prototxt: not a text file')
def prototxt_binary(d):
    with open(weights(d, {'c': [(2, 3)]}), 'rb') as f:
        raw = f.read()
    with open(os.path.join(str(d), 'net.prototxt'), 'wb') as f:
        f.write(b'\xff' + raw)
    caffe.Net(os.path.join(str(d), 'net.prototxt'), caffe.TEST)


@case('net prototxt', 'a net file that does not exist', 'Net', FormatError,
      r'^<dir>/nope.prototxt: cannot read: No such file')
def prototxt_missing(d):
    caffe.Net(os.path.join(str(d), 'nope.prototxt'), caffe.TEST)


@case('net', 'unknown layer type', 'Net', NetError,
      r"^layer 'c': unknown layer type 'Convolutoin' \(did you mean 'Convolution'\?")
def unknown_layer_type(d):
    net(d, INPUT + 'layer { name: "c" type: "Convolutoin" bottom: "x" top: "c" }')


@case('net', 'a layer type of another Caffe fork', 'Net', NetError,
      r"^layer 'r': unknown layer type 'ReLU6' \(not a layer type of BVLC Caffe: .* Python layer")
def fork_layer_type(d):
    net(d, INPUT + 'layer { name: "r" type: "ReLU6" bottom: "x" top: "r" }')


@case('net', 'a bottom no layer produces', 'Net', NetError,
      r"^layer 'r': unknown bottom blob 'y' \(bottom 0\): no layer before it produces")
def missing_bottom(d):
    net(d, INPUT + 'layer { name: "r" type: "ReLU" bottom: "y" top: "r" }')


@case('net', 'two layers write one top (not in place)', 'Net', NetError,
      r"^layer 's': top blob 'y' is produced by another layer too")
def duplicate_top(d):
    net(d, INPUT + 'layer { name: "r" type: "ReLU" bottom: "x" top: "y" }\n'
                   'layer { name: "s" type: "Sigmoid" bottom: "x" top: "y" }')


@case('net', 'Eltwise of two shapes', 'Net', NetError,
      r"^layer 'e' \(Eltwise\): bottom 1 has shape \(2, 3, 4, 6\), bottom 0 has \(2, 3, 4, 5\): "
      r"Eltwise needs equal shapes")
def eltwise_shapes(d):
    net(d, INPUT + input_layer('y', 2, 3, 4, 6) +
        'layer { name: "e" type: "Eltwise" bottom: "x" bottom: "y" top: "e" }')


@case('net', 'Concat of shapes that differ off the axis', 'Net', NetError,
      r"^layer 'c' \(Concat\): bottom 1 has shape \(2, 7, 4, 5\), incompatible")
def concat_shapes(d):
    net(d, INPUT + input_layer('y', 2, 7, 4, 5) +
        'layer { name: "c" type: "Concat" bottom: "x" bottom: "y" top: "c" concat_param { axis: 2 } }')


@case('net', 'Crop beyond its input', 'Net', NetError,
      r"^layer 'c' \(Crop\): crop of 9 at offset 0 on axis 3 exceeds the input size 5")
def crop_bounds(d):
    net(d, INPUT + input_layer('y', 2, 3, 2, 9) +
        'layer { name: "c" type: "Crop" bottom: "x" bottom: "y" top: "c" }')


@case('net', 'an input reshaped to other channels than the convolution was set up for', 'Net.forward',
      NetError, r"^layer 'conv' \(Convolution\): bottom 0 of shape \(2, 4, 4, 5\) has 4 channels; the layer "
      r"was set up for 3 \(weights \(2, 3, 3, 3\)\)")
def conv_channels(d):
    n = net(d, CONV_NET)
    n.blobs['x'].reshape(2, 4, 4, 5)
    n.forward()


@case('net', 'loss whose label does not match the scores', 'Net', NetError,
      r"^layer 'l' \(SoftmaxWithLoss\): label count 48 does not match prediction")
def loss_label_shape(d):
    net(d, INPUT + input_layer('y', 2, 4, 6) +
        'layer { name: "l" type: "SoftmaxWithLoss" bottom: "x" bottom: "y" top: "loss" }')


@case('net', 'label outside the classes at the loss', 'Net.forward', NetError,
      r"^layer 'l' \(SoftmaxWithLoss\): label 7 outside \[0, 3\) and not the ignore label")
def loss_label_value(d):
    n = net(d, INPUT + input_layer('y', 2, 1, 4, 5) +
            'layer { name: "l" type: "SoftmaxWithLoss" bottom: "x" bottom: "y" top: "loss" '
            'loss_param { ignore_label: 255 } }')
    n.blobs['y'].data[...] = 255
    n.blobs['y'].data[1, 0, 2, 3] = 7
    n.forward()


@case('weights', 'truncated caffemodel', 'Net.copy_from', FormatError,
      r'^<dir>/cut.caffemodel: not a binary caffe.NetParameter: it does not parse \(truncated')
def caffemodel_truncated(d):
    path = os.path.join(str(d), 'cut.caffemodel')
    with open(os.path.join(GOLDEN, 'tiny_fcn8s_40x60', 'weights.caffemodel'), 'rb') as f:
        raw = f.read()
    with open(path, 'wb') as f:
        f.write(raw[:len(raw) // 2])
    net(d, CONV_NET).copy_from(path)


@case('weights', 'a solverstate given as weights', 'Net.copy_from', FormatError,
      r'^<repo>/tests/golden/solver_adam/snapshot_iter_4.solverstate: not a binary caffe.NetParameter')
def caffemodel_other_kind(d):
    net(d, CONV_NET).copy_from(os.path.join(GOLDEN, 'solver_adam', 'snapshot_iter_4.solverstate'))


@case('weights', 'a prototxt given as weights', 'Net.copy_from', FormatError,
      r'^<dir>/net.prototxt: not a binary caffe.NetParameter: .*it looks like a text file')
def caffemodel_text(d):
    net(d, CONV_NET).copy_from(os.path.join(str(d), 'net.prototxt'))


@case('weights', 'a caffemodel of a million empty layers', 'Net.copy_from', FormatError,
      r'^<dir>/many.caffemodel: holds about 1000000 layers, more than the 100000 a net may have; parsing '
      r'them would take about 0.5 GB')
def caffemodel_many_layers(d):
    path = os.path.join(str(d), 'many.caffemodel')
    with open(path, 'wb') as f:
        f.write(b'\xa2\x06\x00' * 10 ** 6)  # field 100 (layer), an empty message, a million times
    net(d, CONV_NET).copy_from(path)


@case('weights', 'a layer with another number of blobs', 'Net.copy_from', NetError,
      r"^<dir>/weights.caffemodel: layer 'conv' has 1 parameter blobs, the net's layer 2 "
      r"\(rename the layer to learn it from scratch\)")
def caffemodel_blob_count(d):
    net(d, CONV_NET).copy_from(weights(d, {'conv': [(2, 3, 3, 3)]}))


@case('weights', 'a blob of another shape', 'Net.copy_from', NetError,
      r"^<dir>/weights.caffemodel: cannot copy param 0 of layer 'conv': shape \(5, 3, 3, 3\) "
      r"in the file, \(2, 3, 3, 3\) in the net")
def caffemodel_blob_shape(d):
    net(d, CONV_NET).copy_from(weights(d, {'conv': [(5, 3, 3, 3), (5,)]}))


@case('data', 'dataset directory missing', 'Net (VOCSegDataLayer)', datasets.DataError,
      r'^PASCAL VOC: dataset directory <dir>/VOC2011 not found \(see <repo>/data/pascal/README.md')
def data_directory(d):
    data_net(d, {'voc_dir': os.path.join(str(d), 'VOC2011'), 'split': 'val'})


@case('data', 'split file missing', 'Net (VOCSegDataLayer)', datasets.DataError,
      r'^PASCAL VOC: split file .*/segvalid11.txt not found \(splits there: seg11valid, train')
def data_split_missing(d):
    data_net(d, {'voc_dir': voc(d)[0], 'split': 'segvalid11'})


@case('data', 'split file empty', 'Net (VOCSegDataLayer)', datasets.DataError,
      r'^PASCAL VOC: split file .*/val.txt is empty')
def data_split_empty(d):
    root = voc(d)[0]
    write(root, 'ImageSets/Segmentation/val.txt', '\n')
    data_net(d, {'voc_dir': root, 'split': 'val'})


@case('data', 'image missing', 'Net (VOCSegDataLayer)', datasets.DataError,
      r'^PASCAL VOC: missing image <dir>/pascal/VOC2011/JPEGImages/2008_000001.jpg')
def data_image_missing(d):
    root, image, _ = voc(d)
    os.remove(image)
    data_net(d, {'voc_dir': root, 'split': 'val'})


@case('data', 'label missing', 'Net (VOCSegDataLayer)', datasets.DataError,
      r'^PASCAL VOC: missing label <dir>/pascal/VOC2011/SegmentationClass/2008_000001.png')
def data_label_missing(d):
    root, _, label = voc(d)
    os.remove(label)
    data_net(d, {'voc_dir': root, 'split': 'val'})


@case('data', 'image and label of different sizes', 'Net (VOCSegDataLayer)', datasets.DataError,
      r'^PASCAL VOC: size mismatch: .*2008_000001.jpg is 16x16 but .*2008_000001.png is 16x12')
def data_size_mismatch(d):
    root, _, label = voc(d)
    datasets.save_label_png(np.zeros((16, 12), np.uint8), label)
    data_net(d, {'voc_dir': root, 'split': 'val'})


@case('data', 'label value outside the classes and not void', 'Net (VOCSegDataLayer)',
      datasets.DataError, r'^PASCAL VOC: label .*2008_000001.png has value 40, outside the classes 0-20')
def data_label_value(d):
    root, _, label = voc(d)
    datasets.save_label_png(np.full((16, 16), 40, np.uint8), label)
    data_net(d, {'voc_dir': root, 'split': 'val'})


@case('data', 'corrupt JPEG', 'Net (VOCSegDataLayer)', datasets.DataError,
      r'^PASCAL VOC: cannot read image .*2008_000001.jpg \(corrupt\?\)')
def data_corrupt_jpeg(d):
    root, image, _ = voc(d)
    with open(image, 'r+b') as f:
        f.truncate(200)
    data_net(d, {'voc_dir': root, 'split': 'val'})


@case('data', 'corrupt PNG', 'Net (VOCSegDataLayer)', datasets.DataError,
      r'^PASCAL VOC: cannot read label .*2008_000001.png \(corrupt\?\)')
def data_corrupt_png(d):
    root, _, label = voc(d)
    with open(label, 'r+b') as f:
        f.seek(40)
        f.write(b'\0' * 16)
    data_net(d, {'voc_dir': root, 'split': 'val'})


@case('data', 'param_str that is code, not a dict literal (never run)', 'Net (VOCSegDataLayer)',
      ValueError, r'^VOCSegDataLayer param_str must be a Python dict literal')
def param_str_code(d):
    marker = os.path.join(str(d), 'ran')
    try:
        data_net(d, "__import__('os').system('touch %s')" % marker)
    finally:
        assert not os.path.exists(marker)


@case('data', 'param_str with an unknown key', 'Net (VOCSegDataLayer)', ValueError,
      r"^VOCSegDataLayer param_str has unknown keys 'batch_size'; the keys are voc_dir, split")
def param_str_key(d):
    data_net(d, {'voc_dir': 'x', 'split': 'val', 'batch_size': 20})


@case('data', 'prefetch depth beyond the limit', 'Net (VOCSegDataLayer)', ValueError,
      r'^VOCSegDataLayer prefetch must be an integer from 0 to 64 \(each prefetched image is held in memory\), '
      r'got 1000000000')
def param_str_prefetch(d):
    data_net(d, {'voc_dir': voc(d)[0], 'split': 'val', 'prefetch': 10 ** 9})


@case('data', 'a mean that is not finite', 'Net (VOCSegDataLayer)', ValueError,
      r'^PASCAL VOC mean of data must be 3 finite number\(s\), got \(inf, 0, 0\)')
def param_str_mean_inf(d):
    data_net(d, "{'voc_dir': '%s', 'split': 'val', 'mean': (1e999, 0, 0)}" % voc(d)[0])


@case('data', 'an image beyond Pillow\'s pixel limit (decompression bomb guard)', 'Net (VOCSegDataLayer)',
      datasets.DataError, r'^PASCAL VOC: image .*2008_000001.jpg is too large: Image size \(179560000 pixels\) '
      r'exceeds limit')
def data_image_too_large(d):
    root, image, _ = voc(d)
    Image.new('1', (13400, 13400)).save(image, format='PNG')  # a small file of many pixels
    data_net(d, {'voc_dir': root, 'split': 'val'})


@case('data', 'a PASCAL-Context label list with a huge index', 'Net (PASCALContextSegDataLayer)',
      datasets.DataError, r'^PASCAL-Context: <dir>/pascal-context/labels.txt: index 4000000000 is larger than a '
      r'label map holds \(at most 65535')
def context_huge_index(d):
    context = synthetic.make_context(str(d), n=2, size=(16, 16))
    with open(os.path.join(context, 'labels.txt'), 'a') as f:
        f.write('4000000000: huge\n')
    data_net(d, {'context_dir': context, 'voc_dir': os.path.join(str(d), 'pascal', 'VOC2010'), 'split': 'val'},
             'PASCALContextSegDataLayer')


@case('data', 'a 3-d PASCAL-Context label map', 'Net (PASCALContextSegDataLayer)', datasets.DataError,
      r'^PASCAL-Context: label <dir>/pascal-context/trainval/2008_000001.mat is not a 2-d map '
      r'\(shape \(16, 16, 2\)\)')
def context_label_3d(d):
    import scipy.io
    context = synthetic.make_context(str(d), n=2, size=(16, 16))
    scipy.io.savemat(os.path.join(context, 'trainval', '2008_000001.mat'),
                     {'LabelMap': np.zeros((16, 16, 2), np.uint16)})
    data_net(d, {'context_dir': context, 'voc_dir': os.path.join(str(d), 'pascal', 'VOC2010'), 'split': 'val'},
             'PASCALContextSegDataLayer')


@case('solver', 'unknown lr_policy', 'get_solver', SolverError,
      r"^<dir>/solver.prototxt: unknown lr_policy 'stepp' \(known: exp, fixed, inv")
def solver_lr_policy(d):
    solver(d, 'base_lr: 0.1\nlr_policy: "stepp"\n')


@case('solver', 'lr_policy without its settings', 'get_solver', SolverError,
      r"^<dir>/solver.prototxt: lr_policy 'step' needs stepsize > 0")
def solver_lr_setting(d):
    solver(d, 'base_lr: 0.1\nlr_policy: "step"\ngamma: 0.1\n')


@case('solver', 'unknown solver type', 'get_solver', SolverError,
      r"^<dir>/solver.prototxt: unknown solver type 'Adamm' \(known: SGD")
def solver_type(d):
    solver(d, 'base_lr: 0.1\nlr_policy: "fixed"\ntype: "Adamm"\n')


@case('solver', 'net file missing', 'get_solver', SolverError,
      r'^<dir>/solver.prototxt: net "<dir>/nope.prototxt": <dir>/nope.prototxt: cannot read: '
      r'No such file')
def solver_net_missing(d):
    caffe.get_solver(write(d, 'solver.prototxt', 'net: "%s/nope.prototxt"\nbase_lr: 0.1\n'
                           'lr_policy: "fixed"\n' % d))


@case('solver', 'truncated solverstate', 'Solver.restore', FormatError,
      r'^<dir>/cut.solverstate: not a binary caffe.SolverState: it does not parse')
def solverstate_truncated(d):
    s = solver(d, 'base_lr: 0.1\nlr_policy: "fixed"\nsnapshot_prefix: "%s/snap"\n' % d)
    s.snapshot()
    with open(os.path.join(str(d), 'snap_iter_0.solverstate'), 'rb') as f:
        raw = f.read()
    with open(os.path.join(str(d), 'cut.solverstate'), 'wb') as f:
        f.write(raw[:-3])
    s.restore(os.path.join(str(d), 'cut.solverstate'))


@case('solver', 'solverstate of another solver type', 'Solver.restore', SolverError,
      r'^<dir>/solver.prototxt: <dir>/snap_iter_0.solverstate holds 6 history blobs, '
      r'this SGDSolver needs 3')
def solverstate_kind(d):
    solver(d, 'base_lr: 0.1\nlr_policy: "fixed"\ntype: "Adam"\nsnapshot_prefix: "%s/snap"\n' % d).snapshot()
    solver(d, 'base_lr: 0.1\nlr_policy: "fixed"\n').restore(os.path.join(str(d), 'snap_iter_0.solverstate'))


@case('solver', 'a loss that becomes NaN', 'Solver.step', SolverError,
      r"^<dir>/solver.prototxt: iteration 3: the loss is nan; the first non-finite top is "
      r"'score' of layer 'fixed' \(Convolution\)\. Training stopped before this iteration's update")
def loss_nan(d):
    s = solver(d, 'base_lr: 1e38\nlr_policy: "fixed"\nmomentum: 0.9\nrandom_seed: 7\n')
    s.step(5)


@case('training', 'dataset not prepared', 'voc-fcn32s/solve.py', SystemExit,
      r'^error: SBD: dataset directory <dir>/sbdd/dataset not found \(see <repo>/data/sbdd/README.md')
def solve_py_no_data(d):
    solve_py(d, '--weights', 'none', '--data-root', str(d))


@case('training', 'resume from a missing solverstate', 'voc-fcn32s/solve.py --resume', SystemExit,
      r'^error: <dir>/nope.solverstate: cannot read: No such file')
def solve_py_resume_missing(d):
    root = str(d)
    synthetic.make_sbd(root, n=4, size=(16, 16))
    synthetic.make_voc(root, n=4, size=(16, 16))
    solve_py(d, '--resume', os.path.join(root, 'nope.solverstate'), '--data-root', root)


@case('training', "a new run into an earlier run's directory", 'voc-fcn32s/solve.py', SystemExit,
      r'^error: <dir>/out holds another run \(log.jsonl, train_iter_2.caffemodel\): continue it with '
      r'--resume, start over with --overwrite')
def solve_py_earlier_run(d):
    os.makedirs(os.path.join(str(d), 'out'))
    write(d, 'out/log.jsonl', '{"iter": 2, "loss": 1.0}\n')
    write(d, 'out/train_iter_2.caffemodel', '')
    solve_py(d, '--weights', 'none', '--data-root', str(d))


@case('training', 'a directory another live run trains in', 'voc-fcn32s/solve.py', SystemExit,
      r'^error: <dir>/out is in use by process 1 \(<dir>/out/lock\)')
def solve_py_locked(d):
    os.makedirs(os.path.join(str(d), 'out'))
    write(d, 'out/lock', '{"pid": 1, "host": "%s"}' % socket.gethostname())  # init: always alive
    solve_py(d, '--weights', 'none', '--data-root', str(d))


@case('training', '--resume with --overwrite', 'voc-fcn32s/solve.py', SystemExit,
      r'--resume continues the run in --out, --overwrite deletes it: give one of them')
def solve_py_resume_overwrite(d):
    solve_py(d, '--resume', 'x.solverstate', '--overwrite')


# -- tests --------------------------------------------------------------------------

def outcome(c, directory):
    """The error type and normalized message that case ``c`` raises in ``directory``."""
    with pytest.raises(c.error) as info:
        c.run(directory)
    message = info.value.code if isinstance(info.value, SystemExit) else str(info.value)
    return type(info.value), normalize(message, directory)


def doc_row(c, message):
    cells = [c.group, c.what, '`%s`' % c.entry, c.error.__name__, '`%s`' % message]
    return '| %s |' % ' | '.join(cell.replace('|', '\\|') for cell in cells)


DOC_HEAD = '''# Errors: the bad inputs we try and what each gets

Every row is a case of `tests/e2e/test_bad_input.py`, which runs it through the public
entry point named and checks the error type and message; the message column is what
the case printed (`<dir>`: its scratch directory, `<repo>`: the repository).
Regenerate with `python tests/e2e/test_bad_input.py`; a test fails when this file and the
table disagree.

Errors of torchcaffe are `torchcaffe.errors.CaffeError` subclasses (all `ValueError`s
too): `FormatError` (a file that is not what it should be), `NetError` (a net that cannot
be built or run), `SolverError` (a solver that cannot run, or a loss that diverged).
Dataset problems are `fcn.datasets.DataError`, and their messages end by naming the
README that says how to prepare the data. A data layer's `param_str` is read with
`ast.literal_eval`, never executed. The training driver (`solve.py`) prints these
messages as `error: ...` and exits with status 1.

| input | bad | entry point | error | message |
|---|---|---|---|---|
'''


def doc_rows():
    """The table rows in docs/errors.md, by case name (from the hidden anchors)."""
    with open(DOC) as f:
        text = f.read()
    return {name: row for row, name in re.findall(r'^(\| .*) <!-- (\w+) -->$', text, re.M)}, text


@pytest.mark.parametrize('c', CASES, ids=[c.name for c in CASES])
def test_bad_input(c, tmp_path, monkeypatch):
    monkeypatch.syspath_prepend(ROOT)  # the data layers' module, as solve.py does
    error, message = outcome(c, tmp_path)
    assert error is c.error, message
    assert re.search(c.pattern, message), message
    rows, _ = doc_rows()
    assert rows.get(c.name) == doc_row(c, message), 'docs/errors.md is stale: run python %s' % __file__


def test_doc_lists_exactly_the_cases():
    rows, text = doc_rows()
    assert list(rows) == [c.name for c in CASES], 'docs/errors.md is stale: run python %s' % __file__
    assert text.startswith(DOC_HEAD)


def main():
    import tempfile
    lines = []
    for c in CASES:
        with tempfile.TemporaryDirectory() as directory:
            _, message = outcome(c, directory)
        lines.append('%s <!-- %s -->\n' % (doc_row(c, message), c.name))
    os.makedirs(os.path.dirname(DOC), exist_ok=True)
    with open(DOC, 'w') as f:
        f.write(DOC_HEAD + ''.join(lines))
    print('wrote %s (%d cases)' % (DOC, len(CASES)))


if __name__ == '__main__':
    main()
