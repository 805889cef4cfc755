"""The original authors' way of training, unchanged: a solve.py that does ``import caffe,
surgery, score`` and calls ``score.seg_tests(solver, False, val, layer='score')``, with
prototxts naming ``module: "voc_layers"`` and '../data/...' paths, run by ``fcn run``
from inside its experiment directory of the original layout."""
import os
import re
import shutil
import subprocess
import sys

import numpy as np
import pytest

import refcaffe
from fcn import surgery, synthetic
from torchcaffe.formats import read_weights
from torchcaffe.io import blobproto_to_array

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# As the original voc-fcn32s/solve.py, with a short loop (the original runs 75 x 4000).
SOLVE = '''\
import caffe
import surgery, score

import numpy as np

weights = '../ilsvrc-nets/vgg16-fcn.caffemodel'

# init
caffe.set_mode_cpu()

solver = caffe.SGDSolver('solver.prototxt')
solver.net.copy_from(weights)

# surgeries
interp_layers = [k for k in solver.net.params.keys() if 'up' in k]
surgery.interp(solver.net, interp_layers)

# scoring
val = np.loadtxt('../data/seg11valid.txt', dtype=str)

for _ in range(2):
    solver.step(2)
    score.seg_tests(solver, False, val, layer='score')
'''

SOLVER = '''\
train_net: "train.prototxt"
test_net: "val.prototxt"
test_iter: 736
# make test net, but don't invoke it from the solver itself
test_interval: 999999999
display: 20
average_loss: 20
lr_policy: "fixed"
# lr for unnormalized softmax
base_lr: 1e-8
# high momentum
momentum: 0.99
# no gradient accumulation
iter_size: 1
max_iter: 100000
weight_decay: 0.0005
snapshot: 4
snapshot_prefix: "snapshot/train"
test_initialization: false
'''

DATA = '''\
layer {
  name: "data"
  type: "Python"
  top: "data"
  top: "label"
  python_param {
    module: "voc_layers"
    layer: "%s"
    param_str: "%s"
  }
}
'''


def conv(name, bottom, outputs, kernel, pad):
    return '''\
layer {
  name: "%s"
  type: "Convolution"
  bottom: "%s"
  top: "%s"
  param { lr_mult: 1 decay_mult: 1 }
  param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: %d pad: %d kernel_size: %d stride: 1 }
}
layer { name: "relu_%s" type: "ReLU" bottom: "%s" top: "%s" }
''' % (name, bottom, name, outputs, pad, kernel, name, name, name)


def pool(name, bottom):
    return ('layer { name: "%s" type: "Pooling" bottom: "%s" top: "%s"\n'
            '  pooling_param { pool: MAX kernel_size: 2 stride: 2 } }\n' % (name, bottom, name))


# A narrow FCN-32s in the original's form: the trunk (conv1_1, conv2_1, fc6) comes from the
# "ILSVRC" weights, score_fr starts at zero, upscore (x4) is made bilinear by surgery.interp.
TRUNK = (conv('conv1_1', 'data', 8, 3, 1) + pool('pool1', 'conv1_1') + conv('conv2_1', 'pool1', 16, 3, 1)
         + pool('pool2', 'conv2_1') + conv('fc6', 'pool2', 32, 3, 1))
HEAD = '''\
layer { name: "drop6" type: "Dropout" bottom: "fc6" top: "fc6" dropout_param { dropout_ratio: 0.5 } }
layer {
  name: "score_fr"
  type: "Convolution"
  bottom: "fc6"
  top: "score_fr"
  param { lr_mult: 1 decay_mult: 1 }
  param { lr_mult: 2 decay_mult: 0 }
  convolution_param { num_output: 21 pad: 0 kernel_size: 1 }
}
layer {
  name: "upscore"
  type: "Deconvolution"
  bottom: "score_fr"
  top: "upscore"
  param { lr_mult: 0 }
  convolution_param { num_output: 21 bias_term: false kernel_size: 8 stride: 4 }
}
layer {
  name: "score"
  type: "Crop"
  bottom: "upscore"
  bottom: "data"
  top: "score"
  crop_param { axis: 2 offset: 2 }
}
layer {
  name: "loss"
  type: "SoftmaxWithLoss"
  bottom: "score"
  bottom: "label"
  top: "loss"
  loss_param { ignore_label: 255 normalize: false }
}
'''
MEAN = '(104.00699, 116.66877, 122.67892)'
TRAIN = DATA % ('SBDDSegDataLayer', "{\\'sbdd_dir\\': \\'../data/sbdd/dataset\\', \\'seed\\': 1337, "
                "\\'split\\': \\'train\\', \\'mean\\': %s}" % MEAN) + TRUNK + HEAD
VAL = DATA % ('VOCSegDataLayer', "{\\'voc_dir\\': \\'../data/pascal/VOC2011\\', \\'seed\\': 1337, "
              "\\'split\\': \\'seg11valid\\', \\'mean\\': %s}" % MEAN) + TRUNK + HEAD
DEPLOY = ('layer { name: "input" type: "Input" top: "data"\n'
          '  input_param { shape { dim: 1 dim: 3 dim: 64 dim: 64 } } }\n' + TRUNK)


def params_of(path):
    return {layer.name: [blobproto_to_array(b) for b in layer.blobs] for layer in read_weights(path).layer}


@pytest.fixture
def original(tmp_path):
    """<tmp>/{voc-fcn32s, data, ilsvrc-nets} as the original checkout lays them out; returns
    (the experiment directory, the initial weights)."""
    import torchcaffe
    data = tmp_path / 'data'
    synthetic.make_sbd(str(data), n=8)
    voc = synthetic.make_voc(str(data), n=8)
    shutil.copy(os.path.join(voc, 'ImageSets', 'Segmentation', 'seg11valid.txt'), data / 'seg11valid.txt')
    exp = tmp_path / 'voc-fcn32s'
    (exp / 'snapshot').mkdir(parents=True)
    for name, text in (('solve.py', SOLVE), ('solver.prototxt', SOLVER), ('train.prototxt', TRAIN),
                       ('val.prototxt', VAL)):
        (exp / name).write_text(text)
    # The stand-in for vgg16-fcn.caffemodel: random (MSRA-scaled) trunk weights, saved by torchcaffe
    nets = tmp_path / 'ilsvrc-nets'
    nets.mkdir()
    (nets / 'deploy.prototxt').write_text(DEPLOY)
    net = torchcaffe.Net(str(nets / 'deploy.prototxt'), torchcaffe.TEST)
    rng = np.random.RandomState(0)
    for blobs in net.params.values():
        w = blobs[0].data
        w[...] = rng.randn(*w.shape) * np.sqrt(2.0 / w[0].size)
        blobs[1].data[...] = 0.1
    weights = str(nets / 'vgg16-fcn.caffemodel')
    net.save(weights)
    return exp, weights


def fcn_run(exp, env):
    done = subprocess.run([sys.executable, '-m', 'fcn', 'run', 'solve.py'], cwd=str(exp), env=env,
                          capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def check_run(exp, weights, stdout):
    """Two score rounds printed as the original's; the snapshot shows training and the surgery."""
    rounds = re.findall(r'iteration (\d+): score vs label on 2 images\n    loss (\S+)  overall accuracy '
                        r'(\S+)  mean accuracy (\S+)  mean IU (\S+)  fwavacc (\S+)\n', stdout)
    assert [r[0] for r in rounds] == ['2', '4'], stdout
    for _, *numbers in rounds:
        loss, overall, mean_acc, mean_iu, fwavacc = map(float, numbers)
        assert np.isfinite(loss) and loss > 0
        assert all(0 <= x <= 1 for x in (overall, mean_acc, mean_iu, fwavacc))
    first, trained = params_of(weights), params_of(str(exp / 'snapshot' / 'train_iter_4.caffemodel'))
    assert not np.array_equal(trained['fc6'][0], first['fc6'][0])  # copied, then trained
    assert np.any(trained['score_fr'][0])  # from zero
    up = trained['upscore'][0]  # lr_mult 0: still what surgery.interp made it
    np.testing.assert_array_equal(up[np.arange(21), np.arange(21)],
                                  np.broadcast_to(surgery.upsample_filt(8), (21, 8, 8)).astype(np.float32))
    assert not np.any(up[0, 1:])


def test_original_solve_runs_unchanged_on_torchcaffe(original):
    exp, weights = original
    env = dict(os.environ, FCN_DATA_ROOT=str(exp.parent / 'data'))
    env.pop('FCN_BACKEND', None)  # the default: torch
    check_run(exp, weights, fcn_run(exp, env))


def test_original_solve_runs_unchanged_on_real_caffe(pycaffe, original):
    exp, weights = original
    env = dict(refcaffe.env(), FCN_BACKEND='caffe', FCN_DATA_ROOT=str(exp.parent / 'data'))
    check_run(exp, weights, fcn_run(exp, env))


# --- what fcn run sets up -------------------------------------------------------------------

PROBE = '''\
import os, sys
import caffe
import caffe.proto.caffe_pb2
from caffe.proto import caffe_pb2
from caffe import layers as L, params as P
from caffe.coord_map import crop
import torchcaffe, torchcaffe.coord_map, torchcaffe.proto.caffe_pb2
import surgery, score, layers, voc_layers, nyud_layers, siftflow_layers, pascalcontext_layers
import fcn.layers, fcn.score, fcn.surgery
checks = {
    'caffe': caffe is torchcaffe,
    'caffe_pb2': caffe_pb2 is torchcaffe.proto.caffe_pb2 is caffe.proto.caffe_pb2,
    'L, P': (L, P) == (torchcaffe.layers, torchcaffe.params),
    'coord_map': crop is torchcaffe.coord_map.crop,
    'own spec': torchcaffe.proto.caffe_pb2.__spec__.name == 'torchcaffe.proto.caffe_pb2',
    'score, surgery': (score, surgery) == (fcn.score, fcn.surgery),
    'layers': all(m is fcn.layers for m in (layers, voc_layers, nyud_layers, siftflow_layers,
                                                pascalcontext_layers)),
    'data layers on caffe.Layer': issubclass(voc_layers.SBDDSegDataLayer, caffe.Layer),
    'path': sys.path[:2] == [os.path.dirname(os.path.abspath(__file__)), %r],
    'argv': sys.argv[1:] == ['--iters', '3'],
    'main': __name__ == '__main__',
}
print(sorted(k for k, ok in checks.items() if not ok))
try:
    import caffe.no_such_module
except ModuleNotFoundError as e:
    print(e)
sys.exit(3)
'''


def test_fcn_run_maps_import_caffe_to_torchcaffe_in_its_own_process_only(tmp_path):
    """A real-looking pycaffe on the path is neither imported nor shadowed outside the run."""
    fake = tmp_path / 'site' / 'caffe'
    fake.mkdir(parents=True)
    (fake / '__init__.py').write_text('raise SystemExit("the other caffe was imported")\n')
    (tmp_path / 'exp').mkdir()
    (tmp_path / 'exp' / 'probe.py').write_text(PROBE % ROOT)
    env = dict(os.environ, PYTHONPATH=str(tmp_path / 'site'), FCN_BACKEND='torch')
    done = subprocess.run([sys.executable, '-m', 'fcn', 'run', 'exp/probe.py', '--iters', '3'],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 3, done.stderr  # the script's exit status
    assert done.stdout.splitlines() == ['[]', "No module named 'caffe.no_such_module'"], done.stdout
    assert '"import caffe" means torchcaffe (backend torch) in this run, not the pycaffe at %s' % (
        fake / '__init__.py') in done.stderr
    # the same Python outside fcn run: its caffe is the other one
    plain = subprocess.run([sys.executable, '-c', 'import caffe'], env=env, capture_output=True, text=True)
    assert plain.returncode != 0 and 'the other caffe was imported' in plain.stderr


def test_fcn_run_with_the_caffe_backend_imports_real_pycaffe(pycaffe, tmp_path):
    (tmp_path / 'probe.py').write_text('import caffe, score\nprint(caffe.__file__)\n')
    env = dict(refcaffe.env(), FCN_BACKEND='torch')  # --backend wins over the environment
    done = subprocess.run([sys.executable, '-m', 'fcn', 'run', '--backend', 'caffe', 'probe.py'],
                          cwd=str(tmp_path), env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    where = done.stdout.splitlines()[0]
    assert os.path.dirname(where) == os.path.join(refcaffe.python_dir(), 'caffe')


def test_fcn_run_refuses_a_missing_script(tmp_path):
    done = subprocess.run([sys.executable, '-m', 'fcn', 'run', 'nope.py'], cwd=str(tmp_path),
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and 'no script nope.py' in done.stderr
