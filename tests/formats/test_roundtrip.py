"""Every golden file read and written again: binary files byte for byte; prototxt byte for
byte where a canonical printer can reproduce it, as the same message otherwise."""
import fnmatch
from pathlib import Path

import pytest

from torchcaffe.formats import binaryproto, prototxt
from torchcaffe.proto import caffe_pb2

GOLDEN = Path(__file__).parent.parent / 'golden'
BINARY = sorted(GOLDEN.glob('*/*.caffemodel')) + sorted(GOLDEN.glob('*/*.solverstate'))
TEXT = sorted(GOLDEN.glob('*/*.prototxt'))

# Printed in field-number order, by Caffe's C++ TextFormat (upgrade_net_proto_text) or by
# NetSpec (the FCN nets and the solver cases' train net): to_text must reproduce them.
BYTE_IDENTICAL = ('v1_net/upgraded.prototxt', 'tiny_fcn*/net.prototxt',
                  'tiny_siftflow_*/net.prototxt', 'tiny_nyud_*/net.prototxt',
                  'solver_*/net.prototxt')
# All the others: hand-written (one-line layers, V1 and legacy-input nets, solvers in a
# custom order) or printed in declaration order by the fixture generator's protobuf
# (tiny_alexnet_fcn, tiny_googlenet_block, fc_to_conv). No canonical printer gives
# their bytes back; they must come back as the same message.


def relative(path):
    return path.relative_to(GOLDEN).as_posix()


def is_byte_identical(path):
    return any(fnmatch.fnmatch(relative(path), pattern) for pattern in BYTE_IDENTICAL)


def message_class(path):
    if path.suffix == '.solverstate':
        return caffe_pb2.SolverState
    return caffe_pb2.SolverParameter if path.name == 'solver.prototxt' else caffe_pb2.NetParameter


@pytest.mark.parametrize('path', BINARY, ids=relative)
def test_binary_file_round_trips_byte_for_byte(path, tmp_path):
    message = binaryproto.read(path, message_class(path))
    binaryproto.write(tmp_path / path.name, message)
    assert (tmp_path / path.name).read_bytes() == path.read_bytes()


def test_binary_round_trips_cover_caffe_written_upgrades():
    names = {relative(p) for p in BINARY}
    assert {'v1_net/weights.caffemodel', 'v1_net/upgraded.caffemodel',
            'v1_net/resaved.caffemodel', 'solver_adam/snapshot_iter_4.solverstate',
            'solver_restore_sgd/snapshot_iter_2.solverstate'} <= names
    assert len(BINARY) >= 150


@pytest.mark.parametrize('path', [p for p in TEXT if is_byte_identical(p)], ids=relative)
def test_canonical_prototxt_round_trips_byte_for_byte(path, tmp_path):
    message = prototxt.read(path, message_class(path))
    prototxt.write(tmp_path / path.name, message)
    assert (tmp_path / path.name).read_bytes() == path.read_bytes()


@pytest.mark.parametrize('path', [p for p in TEXT if not is_byte_identical(p)], ids=relative)
def test_other_prototxt_round_trips_as_message(path):
    message = prototxt.read(path, message_class(path))
    printed = prototxt.to_text(message)
    again = prototxt.parse(printed, message_class(path)(), 'printed')
    assert again == message
    assert prototxt.to_text(again) == printed


def test_byte_identical_set_is_substantial():
    byte_identical = {relative(p) for p in TEXT if is_byte_identical(p)}
    fcn_nets = {relative(p) for p in GOLDEN.glob('tiny_fcn*/net.prototxt')}
    assert len(fcn_nets) == 8 and fcn_nets <= byte_identical
    assert 'v1_net/upgraded.prototxt' in byte_identical
    assert len(byte_identical) >= 29
    # and every pattern names files that exist
    for pattern in BYTE_IDENTICAL:
        assert any(fnmatch.fnmatch(name, pattern) for name in byte_identical), pattern
