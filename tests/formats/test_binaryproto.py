"""Reading binary Caffe files: every bad file is a FormatError that names it."""
from pathlib import Path

import numpy as np
import pytest

from torchcaffe import io
from torchcaffe.errors import FormatError
from torchcaffe.formats import binaryproto, read_net, read_solver, read_weights
from torchcaffe.proto import caffe_pb2

GOLDEN = Path(__file__).parent.parent / 'golden'
CAFFEMODEL = GOLDEN / 'tiny_fcn8s_40x60' / 'weights.caffemodel'
SOLVERSTATE = GOLDEN / 'solver_adam' / 'snapshot_iter_4.solverstate'
PROTOTXT = GOLDEN / 'tiny_fcn8s_40x60' / 'net.prototxt'
KINDS = (caffe_pb2.NetParameter, caffe_pb2.SolverState, caffe_pb2.BlobProto)


def fails_naming(path, cls, *words):
    with pytest.raises(FormatError) as e:
        binaryproto.read(path, cls)
    message = str(e.value)
    assert message.startswith(str(path) + ':'), message
    for word in words:
        assert word in message, message
    return message


@pytest.mark.parametrize('fraction', [0.001, 0.25, 0.5, 0.9, 0.9999])
def test_truncated_caffemodel(tmp_path, fraction):
    # A cut exactly between two top-level fields would leave a valid shorter message
    # (the format has no overall length); these cuts fall inside a layer.
    raw = CAFFEMODEL.read_bytes()
    path = tmp_path / 'cut.caffemodel'
    path.write_bytes(raw[:max(1, int(len(raw) * fraction))])
    fails_naming(path, caffe_pb2.NetParameter, 'does not parse (truncated')
    with pytest.raises(FormatError, match='cut.caffemodel'):
        read_weights(path)


def test_truncated_solverstate(tmp_path):
    path = tmp_path / 'cut.solverstate'
    path.write_bytes(SOLVERSTATE.read_bytes()[:-3])
    fails_naming(path, caffe_pb2.SolverState, 'does not parse (truncated')


@pytest.mark.parametrize('cls', KINDS)
def test_empty_file(tmp_path, cls):
    path = tmp_path / 'empty.bin'
    path.write_bytes(b'')
    fails_naming(path, cls, 'empty')


@pytest.mark.parametrize('cls', KINDS)
@pytest.mark.parametrize('seed', range(20))
def test_random_bytes(tmp_path, cls, seed):
    rng = np.random.default_rng(seed)
    path = tmp_path / 'random.bin'
    path.write_bytes(rng.bytes(int(rng.integers(1, 5000))))
    fails_naming(path, cls, 'not a binary ' + cls.DESCRIPTOR.full_name)


@pytest.mark.parametrize('path, cls', [
    (SOLVERSTATE, caffe_pb2.NetParameter),
    (CAFFEMODEL, caffe_pb2.SolverState),
    (CAFFEMODEL, caffe_pb2.BlobProto),
    (SOLVERSTATE, caffe_pb2.BlobProto),
    (GOLDEN / 'v1_net' / 'weights.caffemodel', caffe_pb2.SolverState),
    (GOLDEN / 'v1_net' / 'weights.caffemodel', caffe_pb2.BlobProto),
], ids=lambda x: getattr(x, 'name', None) or x.DESCRIPTOR.name)
def test_other_kind_of_caffe_file(path, cls):
    fails_naming(path, cls, 'not a binary ' + cls.DESCRIPTOR.full_name)


def test_solverstate_given_as_weights():
    with pytest.raises(FormatError, match='snapshot_iter_4.solverstate'):
        read_weights(SOLVERSTATE)


@pytest.mark.parametrize('cls', KINDS)
def test_text_file_given_as_binary(cls):
    fails_naming(PROTOTXT, cls, 'looks like a text file')


def test_net_without_layers_is_not_a_caffemodel(tmp_path):
    path = tmp_path / 'nolayers.caffemodel'
    binaryproto.write(path, caffe_pb2.NetParameter(name='x'))
    fails_naming(path, caffe_pb2.NetParameter, 'no layers')


def test_unreadable_paths(tmp_path):
    fails_naming(tmp_path / 'missing.caffemodel', caffe_pb2.NetParameter, 'cannot read')
    fails_naming(tmp_path, caffe_pb2.NetParameter, 'cannot read')


def test_binary_file_given_as_prototxt():
    with pytest.raises(FormatError, match='weights.caffemodel'):
        read_net(CAFFEMODEL)
    with pytest.raises(FormatError, match='snapshot_iter_4.solverstate'):
        read_solver(SOLVERSTATE)


def test_mean_file_round_trip(tmp_path):
    mean = np.random.default_rng(0).random((3, 5, 7), dtype=np.float32) * 255
    path = tmp_path / 'mean.binaryproto'
    binaryproto.write(path, io.array_to_blobproto(mean))
    blob = binaryproto.read(path, caffe_pb2.BlobProto)
    np.testing.assert_array_equal(io.blobproto_to_array(blob), mean)


def test_write_replaces_atomically(tmp_path):
    path = tmp_path / 'w.caffemodel'
    path.write_bytes(b'old')
    net = binaryproto.read(CAFFEMODEL, caffe_pb2.NetParameter)
    binaryproto.write(path, net)
    assert path.read_bytes() == CAFFEMODEL.read_bytes()
    assert [p.name for p in tmp_path.iterdir()] == ['w.caffemodel']
