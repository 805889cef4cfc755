"""torchcaffe's schema and formats work without torch; the engine loads on first use.

Real pycaffe (FCN_BACKEND=caffe) and the file tools need only the formats, so they must
not pay for torch. Each check runs in a fresh interpreter: this one has torch loaded.
"""
import os
import subprocess
import sys

import pytest

import torchcaffe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# the engine's names that `import torchcaffe as caffe` offered before the engine went lazy
ENGINE_NAMES = ('set_mode_cpu', 'set_mode_gpu', 'set_device', 'set_random_seed', 'set_precision',
                'set_channels_last', 'set_cudnn_benchmark', 'set_reuse_host_memory', 'Net', 'Layer',
                'SGDSolver', 'NesterovSolver', 'AdaGradSolver', 'RMSPropSolver', 'AdaDeltaSolver',
                'AdamSolver', 'get_solver')
TORCH_FREE = ('torchcaffe', 'torchcaffe.proto.caffe_pb2', 'torchcaffe.formats',
              'torchcaffe.formats.prototxt', 'torchcaffe.formats.binaryproto',
              'torchcaffe.formats.upgrade', 'torchcaffe.formats.files', 'torchcaffe.formats.rngstate',
              'torchcaffe.net_spec', 'torchcaffe.coord_map', 'torchcaffe.io', 'torchcaffe.errors',
              'nets', 'nets.voc', 'nets.nyud', 'nets.siftflow', 'nets.pascalcontext',
              'nets.classifiers', 'nets.solvers', 'nets.data')

BLOCK_TORCH = '''
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] == 'torch':
            raise ImportError('torch is blocked here: ' + name)
sys.meta_path.insert(0, NoTorch())
'''

USE_FORMATS = '''
import os, tempfile
import numpy as np
import torchcaffe as caffe
from torchcaffe import coord_map, layers as L, params as P
from torchcaffe.formats import binaryproto, prototxt, read_net, read_weights, rngstate
from torchcaffe.io import array_to_blobproto, blobproto_to_array
from torchcaffe.proto import caffe_pb2
from nets import voc

# a V1 net and caffemodel: reading them runs the upgrades
net = read_net('tests/golden/v1_net/net.prototxt')
assert [l.type for l in net.layer][:2] == ['Input', 'Convolution'], net
weights = read_weights('tests/golden/v1_net/weights.caffemodel')
conv = {l.name: l for l in weights.layer}['conv1']
w = blobproto_to_array(conv.blobs[0])
assert w.shape == (4, 3, 3, 3) and w.dtype == np.float32

# blobproto <-> array, and binaryproto and prototxt files
back = blobproto_to_array(array_to_blobproto(w, diff=2 * w), return_diff=True)
assert np.array_equal(back, 2 * w)
tmp = tempfile.mkdtemp()
binaryproto.write(os.path.join(tmp, 'w.caffemodel'), weights)
assert binaryproto.read(os.path.join(tmp, 'w.caffemodel'), caffe_pb2.NetParameter) == weights
prototxt.write(os.path.join(tmp, 'net.prototxt'), net)
assert read_net(os.path.join(tmp, 'net.prototxt')) == net
rngstate.write(os.path.join(tmp, 'x.rngstate'), [b'state'])

# NetSpec, and a crop computed by coord_map
n = caffe.NetSpec()
n.data = L.Input(shape=dict(dim=[1, 3, 64, 64]))
n.conv = L.Convolution(n.data, num_output=4, kernel_size=3, pad=100)
n.pool = L.Pooling(n.conv, pool=P.Pooling.MAX, kernel_size=2, stride=2)
n.up = L.Deconvolution(n.pool, convolution_param=dict(num_output=4, kernel_size=4, stride=2))
n.crop = coord_map.crop(n.up, n.data)
crop = n.to_proto().layer[-1].crop_param
assert (crop.axis, list(crop.offset)) == (2, [100]), crop
deploy = voc.fcn_vgg16('deploy', 32)
assert [list(l.crop_param.offset) for l in deploy.layer if l.type == 'Crop'] == [[19]]
assert caffe.TRAIN == caffe_pb2.TRAIN == 0 and caffe.TEST == caffe_pb2.TEST == 1
'''


def run(code):
    """Run ``code`` in a fresh interpreter at the repository root; its stdout."""
    r = subprocess.run([sys.executable, '-c', code], cwd=ROOT, capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    return r.stdout


def test_formats_work_with_torch_blocked():
    out = run(BLOCK_TORCH + USE_FORMATS + '''
try:
    caffe.Net
except ImportError as e:
    print('engine needs torch:', e)
''')
    # the block holds: the engine, asked for, does fail to load
    assert 'engine needs torch: torch is blocked here' in out


def test_imports_leave_torch_unloaded():
    out = run('import sys\n' + ''.join('import %s\n' % m for m in TORCH_FREE) + '''
print(sorted(m for m in sys.modules if m.split('.')[0] == 'torch')[:5])
''')
    assert out.strip() == '[]'


def test_engine_loads_on_first_use():
    out = run('''
import sys
import torchcaffe
assert 'torch' not in sys.modules
print('Net' in dir(torchcaffe))
Net = torchcaffe.Net
import torchcaffe.engine.net
print(Net is torchcaffe.engine.net.Net, 'torch' in sys.modules)
''')
    assert out.split() == ['True', 'True', 'True']


@pytest.mark.parametrize('name', ENGINE_NAMES)
def test_engine_names_are_the_engines(name):
    import importlib
    engine = [importlib.import_module('torchcaffe.engine.' + m)
              for m in ('device', 'net', 'python_layer', 'sgd_solvers')]
    assert any(getattr(m, name, None) is getattr(torchcaffe, name) for m in engine)
    assert name in dir(torchcaffe)
    from torchcaffe import Net, TEST  # noqa: F401  (from-imports go through __getattr__ too)


def test_unknown_names_are_attribute_errors():
    assert not hasattr(torchcaffe, 'no_such_thing')
    with pytest.raises(AttributeError, match="no attribute 'no_such_thing'"):
        torchcaffe.no_such_thing
