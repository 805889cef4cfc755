"""Every golden layer case, in each memory model (conftest.memory): forward within
1e-5, backward within 1e-4 of real Caffe, and the same diffs left uncomputed."""
import numpy as np
import pytest

import torchcaffe as caffe
import golden

# Cases checked elsewhere: statistics-only (TRAIN-phase dropout uses Caffe's RNG).
SPECIAL = {'dropout_train_stats'}


@pytest.mark.parametrize('case', [c for c in golden.cases('layer') if c not in SPECIAL])
def test_layer_case(case, memory):
    golden.run_case(caffe, case, data_tol=1e-5, diff_tol=1e-4)


def test_dropout_train_statistics():
    """TRAIN-phase Dropout draws its own mask, so compare statistics with Caffe's."""
    g = golden.Golden('dropout_train_stats')
    caffe.set_random_seed(int(g['meta/random_seed']))
    net = caffe.Net(golden.path('dropout_train_stats', 'net.prototxt'), caffe.TRAIN)
    for x in ('x5', 'x3'):
        net.blobs[x].data[...] = 1
    net.forward()
    for x in ('x5', 'x3'):
        s = 'stats/%s/' % x
        y = net.blobs['y_' + x].data
        n = y.size
        assert n == int(g[s + 'count'])
        p = float(g[s + 'dropout_ratio'])
        frac = float((y == 0).mean())
        # Caffe drew frac_zeroed; both are Binomial(n, p) draws: 4 standard deviations.
        assert abs(frac - p) < 4 * (p * (1 - p) / n) ** 0.5, (frac, p)
        assert abs(float(g[s + 'frac_zeroed']) - p) < 4 * (p * (1 - p) / n) ** 0.5
        kept = y[y != 0]
        assert kept.min() == kept.max() == g[s + 'expected_scale_f32'] == g[s + 'kept_value_min']
        net.blobs['y_' + x].diff[...] = 1
    net.backward()
    for x in ('x5', 'x3'):
        # backward uses the forward's mask: zero exactly where the output is zero
        assert np.array_equal(net.blobs[x].diff, net.blobs['y_' + x].data)
