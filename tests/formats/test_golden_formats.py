"""Format cases run through the engine: the V1 net and the legacy input forms give
Caffe's outputs, and a net saves exactly the bytes Caffe's Net::ToProto wrote."""
import numpy as np

import torchcaffe as caffe
import golden


def forward(case, prototxt, weights='weights.caffemodel'):
    g = golden.Golden(case)
    net = caffe.Net(golden.path(case, prototxt), golden.path(case, weights), caffe.TEST)
    net.blobs['data'].data[...] = g['input/data']
    net.forward()
    return net, g


def test_v1_net_runs_like_caffe():
    net, g = forward('v1_net', 'net.prototxt')
    assert list(net.blobs) == g.names('meta/blob_names')
    assert list(net._layer_names) == g.names('meta/layer_names')
    for (layer, i), value in g.params().items():
        assert net.params[layer][i].shape == tuple(g['meta/param_shape/%s/%d' % (layer, i)])
        np.testing.assert_array_equal(net.params[layer][i].data, value)
    for blob in net.blobs:
        golden.check_blob(g, 'data', blob, net.blobs[blob].data, 1e-5)


def test_save_is_byte_identical_to_caffe(tmp_path):
    net, _ = forward('v1_net', 'net.prototxt')
    net.save(str(tmp_path / 'resaved.caffemodel'))
    with open(golden.path('v1_net', 'resaved.caffemodel'), 'rb') as f:
        assert (tmp_path / 'resaved.caffemodel').read_bytes() == f.read()


def test_legacy_input_forms_match_input_layer():
    net, g = forward('input_shape', 'net.prototxt')
    for blob in net.blobs:
        golden.check_blob(g, 'data', blob, net.blobs[blob].data, 1e-5)
    for other in ('net_input_dim.prototxt', 'net_input_layer.prototxt'):
        twin, _ = forward('input_shape', other)
        assert list(twin._layer_names) == g.names('meta/layer_names/' + other)
        assert bool(g['meta/same_output/' + other])
        for blob in net.blobs:
            np.testing.assert_array_equal(twin.blobs[blob].data, net.blobs[blob].data)
