"""torchcaffe: pycaffe's API on a PyTorch engine.

``import torchcaffe as caffe`` is meant as a drop-in for BVLC pycaffe.
"""
from .proto import caffe_pb2  # noqa: F401
