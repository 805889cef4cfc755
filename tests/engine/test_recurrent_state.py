"""RNN and LSTM carry their hidden state from one forward to the next (without
expose_hidden), as live BVLC pycaffe does; checked over several passes, where the
golden cases run only one."""
import numpy as np
import pytest

import torchcaffe
import golden

NET = '''
layer { name: "in" type: "Input" top: "x" top: "cont" input_param { shape { dim: 3 dim: 2 dim: 4 } shape { dim: 3 dim: 2 } } }
layer { name: "rec" type: "%s" bottom: "x" bottom: "cont" top: "y" recurrent_param { num_output: 3 } }
'''


@pytest.mark.parametrize('kind', ['RNN', 'LSTM'])
def test_state_carries_over_passes(pycaffe, kind, tmp_path):
    path = str(tmp_path / 'net.prototxt')
    with open(path, 'w') as f:
        f.write(NET % kind)
    ours = torchcaffe.Net(path, torchcaffe.TEST)
    rng = np.random.RandomState(7)
    for blob in ours.params['rec']:
        blob.data[...] = rng.normal(0, 0.5, blob.data.shape)
    weights = str(tmp_path / 'weights.caffemodel')
    ours.save(weights)
    theirs = pycaffe.Net(path, weights, pycaffe.TEST)
    # stream 0 continues across passes; stream 1 restarts at each pass's first step
    cont = np.array([[1, 0], [1, 1], [0, 1]], np.float32)
    for step in range(3):
        x = rng.normal(size=(3, 2, 4)).astype(np.float32)
        outs = []
        for net in (ours, theirs):
            net.blobs['x'].data[...] = x
            net.blobs['cont'].data[...] = cont
            net.forward()
            outs.append(net.blobs['y'].data.copy())
        assert golden.nerr(outs[1], outs[0]) <= 1e-5, 'pass %d' % step
