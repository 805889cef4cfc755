"""Nets that BVLC Caffe rejects (a failed CHECK aborts it) raise a NetError naming the
layer here, at the same step: setup, forward or backward. Where pycaffe is built, the
test also confirms that the reference aborts on the same net."""
import subprocess
import sys

import pytest

import refcaffe
import torchcaffe as caffe
from torchcaffe.errors import NetError


def inp(name, *dims):
    return 'layer { name: "%s" type: "Input" top: "%s" input_param { shape { %s } } }\n' % (
        name, name, ' '.join('dim: %d' % d for d in dims))


X = inp('x', 2, 3, 4)
FB = 'force_backward: true\n'
LOSS = ('layer { name: "loss" type: "Reduction" bottom: "y" top: "loss" '
        'reduction_param { operation: SUMSQ } loss_weight: 1 }\n')

# (id, net, inputs {blob: value}, step, message, Caffe aborts too)
CASES = [
    ('absval_inplace', X + 'layer { name: "l" type: "AbsVal" bottom: "x" top: "x" }',
     {}, 'setup', 'cannot run in place', True),
    ('exp_base', X + 'layer { name: "l" type: "Exp" bottom: "x" top: "y" exp_param { base: -2 } }',
     {}, 'setup', 'base must be strictly positive', True),
    ('log_base', X + 'layer { name: "l" type: "Log" bottom: "x" top: "y" log_param { base: 0 } }',
     {}, 'setup', 'base must be strictly positive', True),
    ('prelu_1axis', inp('x', 5) + 'layer { name: "l" type: "PReLU" bottom: "x" top: "y" }',
     {}, 'setup', 'at least 2 axes', True),
    ('argmax_topk', X + 'layer { name: "l" type: "ArgMax" bottom: "x" top: "y" argmax_param { top_k: 13 } }',
     {}, 'setup', 'top_k 13 exceeds', True),
    ('argmax_axis_topk', X + 'layer { name: "l" type: "ArgMax" bottom: "x" top: "y" '
     'argmax_param { top_k: 4 axis: 1 } }', {}, 'setup', 'top_k 4 exceeds', True),
    ('argmax_backward', FB + X + 'layer { name: "l" type: "ArgMax" bottom: "x" top: "y" }',
     {}, 'backward', 'no backward', True),
    ('threshold_backward', FB + X + 'layer { name: "l" type: "Threshold" bottom: "x" top: "y" }',
     {}, 'backward', 'no backward', True),
    ('batchnorm_lr', X + 'layer { name: "l" type: "BatchNorm" bottom: "x" top: "y" param { lr_mult: 1 } }',
     {}, 'setup', 'lr_mult must be 0', True),
    ('batchnorm_unset_lr', X + 'layer { name: "l" type: "BatchNorm" bottom: "x" top: "y" param { decay_mult: 0 } }',
     {}, 'setup', 'lr_mult must be 0', True),
    ('mvn_5axes', inp('x', 1, 2, 2, 2, 2) + 'layer { name: "l" type: "MVN" bottom: "x" top: "y" }',
     {}, 'setup', 'at most 4 axes', True),
    ('tile_no_tiles', X + 'layer { name: "l" type: "Tile" bottom: "x" top: "y" }',
     {}, 'setup', 'tiles must be specified', True),
    ('im2col_no_kernel', X + 'layer { name: "l" type: "Im2col" bottom: "x" top: "y" }',
     {}, 'setup', 'kernel_size', True),
    ('embed_backward', FB + X + 'layer { name: "l" type: "Embed" bottom: "x" top: "y" '
     'embed_param { input_dim: 5 num_output: 2 } }\n' + LOSS, {'x': 1}, 'backward', 'index input', True),
    # Caffe only DCHECKs the index (a release build reads outside the table): we raise.
    ('embed_index', X + 'layer { name: "l" type: "Embed" bottom: "x" top: "y" '
     'embed_param { input_dim: 5 num_output: 2 } }', {'x': 5}, 'forward', 'not an index in \\[0, 5\\)', False),
    ('reindex_range', X + inp('i', 3) + 'layer { name: "l" type: "BatchReindex" bottom: "x" bottom: "i" top: "y" }',
     {'i': 2}, 'forward', 'outside the batch', True),
    ('reindex_axes', X + inp('i', 3, 1) + 'layer { name: "l" type: "BatchReindex" bottom: "x" bottom: "i" top: "y" }',
     {}, 'setup', 'must have 1 axis', True),
    ('filter_tops', X + inp('s', 2) + 'layer { name: "l" type: "Filter" bottom: "x" bottom: "s" top: "y" top: "z" }',
     {}, 'setup', 'one top per filtered bottom', True),
    ('filter_selector', X + inp('s', 2, 2) + 'layer { name: "l" type: "Filter" bottom: "x" bottom: "s" top: "y" }',
     {}, 'setup', 'singleton', True),
    ('filter_backward', FB + X + inp('s', 2) + 'layer { name: "l" type: "Filter" bottom: "x" bottom: "s" top: "y" }\n'
     + LOSS, {'s': 1}, 'backward', 'selector', True),
]
IDS = [c[0] for c in CASES]


def steps(net, inputs, step):
    """Run the net up to ``step`` (setup is the construction itself)."""
    for name, value in inputs.items():
        net.blobs[name].data[...] = value
    if step in ('forward', 'backward'):
        net.forward()
    if step == 'backward':
        net.backward()


@pytest.mark.parametrize('name, text, inputs, step, message, aborts', CASES, ids=IDS)
def test_engine_raises(tmp_path, name, text, inputs, step, message, aborts):
    path = tmp_path / 'net.prototxt'
    path.write_text('name: "n"\n' + text)
    if step == 'setup':
        with pytest.raises(NetError, match="layer 'l' .*%s" % message):
            caffe.Net(str(path), caffe.TEST)
        return
    net = caffe.Net(str(path), caffe.TEST)
    with pytest.raises(NetError, match="layer 'l' .*%s" % message):
        steps(net, inputs, step)


CHILD = '''import sys, caffe
net = caffe.Net(sys.argv[1], caffe.TEST)
for name, value in %r.items():
    net.blobs[name].data[...] = value
if %r in ('forward', 'backward'):
    net.forward()
if %r == 'backward':
    net.backward()
'''


@pytest.mark.parametrize('name, text, inputs, step, message, aborts',
                         [c for c in CASES if c[5]], ids=[c[0] for c in CASES if c[5]])
def test_reference_aborts(pycaffe, tmp_path, name, text, inputs, step, message, aborts):
    path = tmp_path / 'net.prototxt'
    path.write_text('name: "n"\n' + text)
    code = CHILD % (inputs, step, step)
    r = subprocess.run([sys.executable, '-c', code, str(path)], env=refcaffe.env(),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode < 0, (r.returncode, r.stderr[-2000:])  # killed by Caffe's abort
    if step != 'setup':  # and not before the step named
        ok = CHILD.split('if ')[0] % inputs
        r = subprocess.run([sys.executable, '-c', ok + ('net.forward()\n' if step == 'backward' else ''),
                            str(path)], env=refcaffe.env(), capture_output=True, text=True, timeout=120)
        assert r.returncode == 0, r.stderr[-2000:]
