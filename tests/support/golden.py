"""Reading and running the Caffe golden cases in tests/golden (see its README)."""
import json
import os
import shutil
import tempfile

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.join(os.path.dirname(HERE), 'golden')
# cases of our own, computed by the reference pycaffe (tests/golden_pycaffe/generate.py)
PYCAFFE_ROOT = os.path.join(os.path.dirname(HERE), 'golden_pycaffe')
SENTINEL = np.float32(-1234.5)

with open(os.path.join(ROOT, 'index.json')) as f:
    INDEX = json.load(f)['cases']


def cases(family):
    """Names of the golden cases of ``family`` ('layer', 'net', 'solver', 'format')."""
    return sorted(n for n, c in INDEX.items() if c['family'] == family)


def pycaffe_cases():
    """Names of the generated cases in tests/golden_pycaffe."""
    return sorted(d for d in os.listdir(PYCAFFE_ROOT)
                  if os.path.isfile(os.path.join(PYCAFFE_ROOT, d, 'golden.npz')))


def path(case, *parts):
    root = ROOT if os.path.isdir(os.path.join(ROOT, case)) else PYCAFFE_ROOT
    return os.path.join(root, case, *parts)


class Golden:
    """The arrays of one case's golden.npz with the README's lookup rules."""

    def __init__(self, case):
        self.case = case
        with np.load(path(case, 'golden.npz')) as z:
            self.z = {k: z[k] for k in z.files}

    def __getitem__(self, key):
        return self.z[key]

    def __contains__(self, key):
        return key in self.z

    def get(self, key, default=None):
        return self.z.get(key, default)

    def names(self, key):
        return [str(s) for s in np.atleast_1d(self.z.get(key, np.array([], str)))]

    def keys(self, prefix):
        return [k[len(prefix):] for k in self.z if k.startswith(prefix)]

    def params(self, prefix='param/'):
        """{(layer, index): array}; layer names may contain '/'."""
        out = {}
        for k in self.keys(prefix):
            layer, i = k.rsplit('/', 1)
            out[layer, int(i)] = self.z[prefix + k]
        return out


def nerr(expected, actual):
    """max|a - b| / max|a| (absolute when the expected array is all zero)."""
    expected = np.asarray(expected, np.float64)
    actual = np.asarray(actual, np.float64)
    assert expected.shape == actual.shape, (expected.shape, actual.shape)
    if expected.size == 0:
        return 0.0
    scale = np.abs(expected).max()
    err = np.abs(expected - actual).max()
    return err / scale if scale > 0 else err


def check_blob(g, kind, blob, actual, tol, what=''):
    """Compare data or diff of ``blob`` in full, or by its stat/ and sample/ entries."""
    key = '%s/%s' % (kind, blob)
    if key in g:
        e = nerr(g[key], actual)
        assert e <= tol, '%s %s: nerr %.3g > %.3g %s' % (kind, blob, e, tol, what)
        return
    if kind == 'data' and 'input/' + blob in g:
        e = nerr(g['input/' + blob], actual)
        assert e <= tol, '%s %s (input): nerr %.3g' % (kind, blob, e)
        return
    stat, sample = g.get('stat/' + key), g.get('sample/' + key)
    assert stat is not None and sample is not None, 'no golden entry for %s' % key
    flat = np.asarray(actual, np.float64).ravel()
    stride = int(g['meta/sample_stride/' + key])
    e = nerr(sample, flat[::stride])
    assert e <= tol, '%s %s sample: nerr %.3g > %.3g %s' % (kind, blob, e, tol, what)
    count, total, asum, sumsq = stat[:4]
    assert flat.size == count, (blob, flat.size, count)
    assert abs(flat.sum() - total) <= 1e-5 * max(asum, 1e-30) + tol * asum, (blob, flat.sum(), total)
    assert abs(np.abs(flat).sum() - asum) <= max(1e-5, tol) * asum + 1e-30, (blob, np.abs(flat).sum(), asum)
    assert abs((flat ** 2).sum() - sumsq) <= max(1e-5, 2 * tol) * sumsq + 1e-30, (blob, (flat ** 2).sum(), sumsq)


def run_case(caffe, case, data_tol, diff_tol, param_tol=None, sentinel=True, loss_tol=1e-5):
    """Build, load, forward and backward ``case`` with module ``caffe``; compare to golden.

    A case of tests/golden_pycaffe runs in a temporary copy of its directory, since the
    paths in its prototxt are relative to it and the files the net writes stay there."""
    if path(case) != os.path.join(PYCAFFE_ROOT, case):
        return _run_case(caffe, case, data_tol, diff_tol, param_tol, sentinel, loss_tol)
    cwd = os.getcwd()
    with tempfile.TemporaryDirectory() as tmp:
        work = os.path.join(tmp, case)
        shutil.copytree(path(case), work)
        os.chdir(work)
        try:
            net, g = _run_case(caffe, case, data_tol, diff_tol, param_tol, sentinel, loss_tol)
            written = g.names('meta/outputs_written')
            if not written:
                return net, g
            del net  # written files are complete once the net is gone (as in Caffe)
            check_written(g, written)
            return None, g
        finally:
            os.chdir(cwd)


def check_written(g, names):
    """The HDF5 files the net wrote hold the golden datasets, exactly."""
    import h5py
    for name in names:
        with h5py.File(name, 'r') as f:
            expected = sorted(k.split('/')[-1] for k in g.keys('file/%s/' % name))
            assert sorted(f) == expected, (name, sorted(f), expected)
            for k in f:
                want = g['file/%s/%s' % (name, k)]
                assert f[k].shape == want.shape and np.array_equal(f[k][()], want), (name, k)


def _run_case(caffe, case, data_tol, diff_tol, param_tol, sentinel, loss_tol):
    from torchcaffe.formats import prototxt
    from torchcaffe.proto import caffe_pb2
    g = Golden(case)
    param_tol = diff_tol if param_tol is None else param_tol
    phase = caffe.TEST if str(g['meta/phase']) == 'TEST' else caffe.TRAIN
    net = caffe.Net(path(case, 'net.prototxt'), path(case, 'weights.caffemodel'), phase)

    assert list(net.blobs) == g.names('meta/blob_names')
    assert list(net._layer_names) == g.names('meta/layer_names')
    assert [l.type for l in net.layers] == g.names('meta/layer_types')
    assert sorted(net.outputs) == sorted(g.names('meta/outputs'))
    for (layer, i), value in g.params().items():
        assert nerr(value, net.params[layer][i].data) == 0, 'param %s/%d' % (layer, i)

    inputs = g.names('meta/inputs')
    for name in inputs:
        net.blobs[name].data[...] = g['input/' + name]
    if 'memory/data' in g:
        net.set_input_arrays(g['memory/data'], g['memory/labels'])
    for _ in range(int(g.get('meta/forwards', 1)) - 1):
        net._forward(0, len(net.layers) - 1)
    loss = net._forward(0, len(net.layers) - 1)
    random = set(g.names('meta/random'))  # sampled in TRAIN: checked by the case's own test
    for blob in set(net.blobs) - random:
        check_blob(g, 'data', blob, net.blobs[blob].data, data_tol)
    assert abs(loss - float(g['loss_total'])) <= loss_tol * max(1.0, abs(float(g['loss_total']))), \
        (loss, float(g['loss_total']))
    for blob in g.keys('loss/'):
        assert abs(net.blobs[blob].data.reshape(-1)[0] - g['loss/' + blob]) <= \
            loss_tol * max(1.0, abs(float(g['loss/' + blob]))), blob
    if not bool(g['meta/backward']):
        return net, g

    top_diffs = {b: g['top_diff/' + b] for b in g.keys('top_diff/')}

    def backward():
        net.clear_param_diffs()
        for b, d in top_diffs.items():
            net.blobs[b].diff[...] = d
        net._backward(len(net.layers) - 1, 0)

    backward()
    skip = set(g.names('meta/diff_not_computed')) | set(g.names('meta/tie_sensitive_diffs'))
    for blob in net.blobs:
        if blob not in skip:
            check_blob(g, 'diff', blob, net.blobs[blob].diff, diff_tol)
    for (layer, i), value in g.params('param_diff/').items():
        e = nerr(value, net.params[layer][i].diff)
        assert e <= param_tol, 'param_diff %s/%d: nerr %.3g > %.3g' % (layer, i, e, param_tol)

    if sentinel:  # the same diffs must be left uncomputed as in Caffe
        losses = {b for b in g.keys('loss/')}
        fixed = set(top_diffs) | losses
        keep = {b: net.blobs[b].diff.copy() for b in fixed}
        for b, blob in net.blobs.items():
            if b not in fixed:
                blob.diff[...] = SENTINEL
        for b, d in keep.items():
            net.blobs[b].diff[...] = d
        rng = np.random.RandomState(12345)
        patterns = {}
        for l, blobs in net.params.items():
            for i, pb in enumerate(blobs):
                patterns[l, i] = np.asarray(rng.randn(*pb.diff.shape), np.float32)  # 0-axis blobs too
                pb.diff[...] = patterns[l, i]
        for b, d in top_diffs.items():
            net.blobs[b].diff[...] = d
        net._backward(len(net.layers) - 1, 0)
        untouched = [b for b, blob in net.blobs.items()
                     if b not in fixed and np.all(blob.diff == SENTINEL)]
        assert sorted(untouched) == sorted(g.names('meta/diff_not_computed'))
        same = ['%s/%d' % (l, i) for l, blobs in net.params.items()
                for i, pb in enumerate(blobs) if np.array_equal(pb.diff, patterns[l, i])]
        assert sorted(same) == sorted(g.names('meta/param_diff_not_computed'))
    return net, g


def assert_nets_agree(ours, theirs, skip_diffs=(), data_tol=1e-4, diff_tol=1e-3):
    """Run forward and backward in both nets (inputs set) and compare the loss, every
    blob's data, every parameter (forward may change some, e.g. BatchNorm's running
    statistics) and parameter diff, and every blob diff not in ``skip_diffs``."""
    loss = [net._forward(0, len(net.layers) - 1) for net in (ours, theirs)]
    assert abs(loss[0] - loss[1]) <= 1e-5 * max(1.0, abs(loss[1])), loss
    for name in ours.blobs:
        e = nerr(theirs.blobs[name].data, ours.blobs[name].data)
        assert e <= data_tol, 'data %s: nerr %.3g' % (name, e)
    for net in (ours, theirs):
        net.clear_param_diffs()
        net._backward(len(net.layers) - 1, 0)
    for layer, blobs in theirs.params.items():
        for i, b in enumerate(blobs):
            e = nerr(b.data, ours.params[layer][i].data)
            assert e <= 1e-5, 'param %s/%d: nerr %.3g' % (layer, i, e)
            e = nerr(b.diff, ours.params[layer][i].diff)
            assert e <= diff_tol, 'param diff %s/%d: nerr %.3g' % (layer, i, e)
    for name in ours.blobs:
        if name not in skip_diffs:
            e = nerr(theirs.blobs[name].diff, ours.blobs[name].diff)
            assert e <= diff_tol, 'diff %s: nerr %.3g' % (name, e)
