"""Every experiment's train and val/test data layers read their dataset's real layout."""
import glob
import os

import numpy as np
import pytest

import torchcaffe as caffe
from torchcaffe.formats import read_net
from torchcaffe.proto import caffe_pb2
from fcn import synthetic
from fcn.datasets import NYUD

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
NETS = sorted(p for p in glob.glob(os.path.join(ROOT, '*-fcn*', '*.prototxt'))
              if not p.endswith(('deploy.prototxt', 'solver.prototxt')))


@pytest.fixture(scope='module')
def data_root(tmp_path_factory):
    root = tmp_path_factory.mktemp('data')
    for dataset in ('voc', 'sbd', 'nyud', 'siftflow', 'context'):
        synthetic.main([dataset, '--out', str(root), '--n', '6'])
    return str(root)


@pytest.mark.parametrize('path', NETS, ids=lambda p: os.path.relpath(p, ROOT))
def test_data_layer_feeds_the_net(path, data_root, monkeypatch):
    monkeypatch.setenv('FCN_DATA_ROOT', data_root)
    net = read_net(path)
    source = caffe_pb2.NetParameter()
    source.layer.add().CopyFrom(net.layer[0])  # the data layer alone
    fed = caffe.Net(source, caffe.TRAIN)
    fed.forward()
    height, width = fed.blobs[net.layer[0].top[0]].shape[2:]
    for top in net.layer[0].top:
        blob = fed.blobs[top]
        assert blob.shape[0] == 1 and blob.shape[2:] == (height, width)
        if blob.shape[1] == 1 and top not in ('depth',):  # label maps
            values = set(np.unique(blob.data)) - {255}
            assert values and all(v == int(v) >= 0 for v in values)


def test_nyud_means_per_input(data_root):
    root = os.path.join(data_root, 'nyud')
    default = NYUD(root, 'test')
    given = NYUD(root, 'test', mean={'hha': (1, 2, 3), 'depth': (0.5,)})
    assert np.array_equal(given.means['hha'], [1, 2, 3]) and given.means['depth'][0] == 0.5
    assert np.array_equal(given.means['color'], default.means['color'])
    assert np.array_equal(NYUD(root, 'test', mean=(1, 2, 3)).means['color'], [1, 2, 3])
    with pytest.raises(ValueError, match="unknown inputs \\['rgb'\\]"):
        NYUD(root, 'test', mean={'rgb': (1, 2, 3)})
    with pytest.raises(ValueError, match=r'mean of depth must be 1 finite number\(s\), got \(1, 2\)'):
        NYUD(root, 'test', mean={'depth': (1, 2)})
