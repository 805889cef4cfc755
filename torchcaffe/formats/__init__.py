"""Caffe's file formats: prototxt text, binary protobuf files, and upgrades of old nets."""
from ..proto import caffe_pb2
from . import prototxt


def read_net(path):
    return prototxt.read(path, caffe_pb2.NetParameter)


def read_weights(path):
    with open(path, 'rb') as f:
        return caffe_pb2.NetParameter.FromString(f.read())
