"""The pycaffe that scripts/build_pycaffe.sh builds is a correct BVLC Caffe:
it reproduces the golden cases (computed by another Caffe build) within the
tolerances of tests/golden/README.md, runs Python layers, and imports into one
process together with torchcaffe's schema."""
import os
import shutil
import subprocess
import sys

import numpy as np
import pytest

import golden
import refcaffe

# TRAIN-phase Dropout draws from Caffe's RNG: statistics only, not comparable here.
LAYER_CASES = [c for c in golden.cases('layer') if c != 'dropout_train_stats']


def test_is_the_cached_build(pycaffe):
    assert pycaffe.__file__ == os.path.join(refcaffe.python_dir(), 'caffe', '__init__.py')
    assert pycaffe.__version__ == '1.0.0'
    types = pycaffe.layer_type_list()
    assert 'Python' in types  # WITH_PYTHON_LAYER
    assert {'Convolution', 'Deconvolution', 'Crop', 'SoftmaxWithLoss'} <= set(types)


@pytest.mark.parametrize('case', LAYER_CASES)
def test_golden_layer_case(pycaffe, case):
    golden.run_case(pycaffe, case, data_tol=1e-5, diff_tol=1e-5)


@pytest.mark.parametrize('case', golden.cases('net'))
def test_golden_net_case(pycaffe, case):
    golden.run_case(pycaffe, case, data_tol=1e-4, diff_tol=1e-4)


@pytest.mark.parametrize('case, solver', [('solver_sgd_step', 'SGDSolver'),
                                          ('solver_sgd_itersize2', 'SGDSolver'),
                                          ('solver_adam', 'AdamSolver')])
def test_golden_solver_case(pycaffe, case, solver, tmp_path, monkeypatch):
    for name in ('solver.prototxt', 'net.prototxt', 'weights.caffemodel'):
        shutil.copy(golden.path(case, name), tmp_path)
    monkeypatch.chdir(tmp_path)  # Caffe resolves the solver's `net` from the working directory
    s = getattr(pycaffe, solver)('solver.prototxt')
    s.net.copy_from('weights.caffemodel')
    g = golden.Golden(case)
    for k in range(1, int(g['meta/iters']) + 1):
        for blob in ('data', 'label'):
            s.net.blobs[blob].data[...] = g['iter/%d/input/%s' % (k, blob)]
        assert s.lr == pytest.approx(float(g['iter/%d/lr' % k]), rel=1e-6)
        s.step(1)
        assert float(s.net.blobs['loss'].data) == pytest.approx(float(g['iter/%d/loss' % k]), rel=1e-5)
        for (layer, i), w in g.params('iter/%d/param/' % k).items():
            err = np.abs(s.net.params[layer][i].data - w).max()
            assert err <= 1e-5 * np.abs(w).max(), 'step %d %s/%d: %g' % (k, layer, i, err)
    assert s.iter == int(g['meta/iters'])


LAYER_MODULE = '''
import caffe


class Scale(caffe.Layer):
    """top = k * bottom, k from param_str; the gradient scales by k too."""

    def setup(self, bottom, top):
        self.k = float(self.param_str)

    def reshape(self, bottom, top):
        top[0].reshape(*bottom[0].data.shape)

    def forward(self, bottom, top):
        top[0].data[...] = self.k * bottom[0].data

    def backward(self, top, propagate_down, bottom):
        if propagate_down[0]:
            bottom[0].diff[...] = self.k * top[0].diff
'''

PYTHON_NET = '''force_backward: true
layer { name: "x" type: "Input" top: "x" input_param { shape { dim: 2 dim: 3 } } }
layer { name: "y" type: "Python" bottom: "x" top: "y"
        python_param { module: "refcaffe_scale_layer" layer: "Scale" param_str: "2.5" } }
'''


def test_python_layer(pycaffe, tmp_path, monkeypatch):
    (tmp_path / 'refcaffe_scale_layer.py').write_text(LAYER_MODULE)
    (tmp_path / 'net.prototxt').write_text(PYTHON_NET)
    monkeypatch.syspath_prepend(str(tmp_path))
    net = pycaffe.Net(str(tmp_path / 'net.prototxt'), pycaffe.TEST)
    assert [layer.type for layer in net.layers] == ['Input', 'Python']
    x = np.arange(6, dtype=np.float32).reshape(2, 3) - 2
    net.blobs['x'].data[...] = x
    net.forward()
    np.testing.assert_array_equal(net.blobs['y'].data, 2.5 * x)
    net.blobs['y'].diff[...] = np.arange(6, dtype=np.float32).reshape(2, 3)
    net.backward()
    np.testing.assert_array_equal(net.blobs['x'].diff, 2.5 * net.blobs['y'].diff)


def run_python(code, *args):
    """Run ``code`` in a fresh interpreter that sees real pycaffe and this checkout."""
    return subprocess.run([sys.executable, '-c', code, *args], env=refcaffe.env(),
                          capture_output=True, text=True, timeout=300)


IMPORTS = {
    'torchcaffe first': 'import torchcaffe.proto.caffe_pb2 as ours\n'
                        'import caffe\n'
                        'from caffe.proto import caffe_pb2 as ref\n',
    'caffe first': 'import caffe\n'
                   'from caffe.proto import caffe_pb2 as ref\n'
                   'import torchcaffe.proto.caffe_pb2 as ours\n',
}
SHARED_SCHEMA = '''import sys
assert caffe.__file__.startswith(sys.argv[1]), caffe.__file__
assert ours.DESCRIPTOR is ref.DESCRIPTOR
assert ours.NetParameter is ref.NetParameter
net = ref.NetParameter(name="n")
net.layer.add(name="conv", type="Convolution").convolution_param.num_output = 3
assert ours.NetParameter.FromString(net.SerializeToString()) == net
print("ok")
'''


@pytest.mark.parametrize('order', sorted(IMPORTS))
def test_both_schemas_in_one_process(pycaffe, order):
    r = run_python(IMPORTS[order] + SHARED_SCHEMA, refcaffe.python_dir())
    assert r.returncode == 0 and r.stdout.strip() == 'ok', r.stderr[-3000:]


def test_real_schema_equals_torchcaffes(pycaffe):
    """Sharing one descriptor is right only if the two schemas are the same:
    compare each as protobuf stores it, each in a process of its own."""
    stored = {}
    for name, module in [('ours', 'torchcaffe.proto.caffe_pb2'), ('real', 'caffe.proto.caffe_pb2')]:
        r = run_python('import importlib, sys\n'
                       'm = importlib.import_module(sys.argv[1])\n'
                       'sys.stdout.write(m.DESCRIPTOR.serialized_pb.hex())\n', module)
        assert r.returncode == 0, r.stderr[-3000:]
        stored[name] = bytes.fromhex(r.stdout)
    assert len(stored['ours']) > 10000
    assert stored['ours'] == stored['real']
