"""Caffe's file formats: prototxt text, binary protobuf files, and upgrades of old nets.

The engine reads Caffe's files through the three functions here; each returns the
message in the current format, upgraded as Caffe does on reading, and every error
is a FormatError naming the file.
"""
import os

from ..proto import caffe_pb2
from . import binaryproto, prototxt
from .upgrade import upgrade_net, upgrade_snapshot_prefix, upgrade_solver


def read_net(path):
    """The net prototxt at ``path`` as an upgraded NetParameter."""
    net = prototxt.read(path, caffe_pb2.NetParameter)
    upgrade_net(net, os.fspath(path))
    return net


def read_weights(path):
    """The binary caffemodel at ``path`` as an upgraded NetParameter."""
    net = binaryproto.read(path, caffe_pb2.NetParameter)
    upgrade_net(net, os.fspath(path))
    return net


def read_solver(path):
    """The solver prototxt at ``path`` as an upgraded SolverParameter.

    As in Caffe, an unset ``snapshot_prefix`` becomes the file's path without extension.
    """
    solver = prototxt.read(path, caffe_pb2.SolverParameter)
    upgrade_solver(solver, os.fspath(path))
    upgrade_snapshot_prefix(solver, path)
    return solver
