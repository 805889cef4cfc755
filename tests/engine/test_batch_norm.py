"""BatchNorm's running averages: after one forward pass the parameter blobs hold what
the reference pycaffe left in them (param_forward/ in the golden cases), and blobs
Caffe leaves alone stay exactly as loaded."""
import pytest

import torchcaffe as caffe
import golden

CASES = [c for c in golden.pycaffe_cases() if c.startswith('batchnorm_')]


@pytest.mark.parametrize('case', CASES)
def test_parameters_after_forward(case):
    g = golden.Golden(case)
    phase = caffe.TEST if str(g['meta/phase']) == 'TEST' else caffe.TRAIN
    net = caffe.Net(golden.path(case, 'net.prototxt'), golden.path(case, 'weights.caffemodel'), phase)
    for name in g.names('meta/inputs'):
        net.blobs[name].data[...] = g['input/' + name]
    net.forward()
    after = g.params('param_forward/')
    for (layer, i), before in g.params().items():
        actual = net.params[layer][i].data
        if (layer, i) in after:
            e = golden.nerr(after[layer, i], actual)
            assert e <= 1e-5, 'param %s/%d after forward: nerr %.3g' % (layer, i, e)
        else:
            assert golden.nerr(before, actual) == 0, 'param %s/%d changed' % (layer, i)


def test_some_cases_update_the_averages():
    updated = [c for c in CASES if golden.Golden(c).keys('param_forward/')]
    assert len(updated) >= 2  # TRAIN, and TEST with use_global_stats false
