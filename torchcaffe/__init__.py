"""torchcaffe: pycaffe's API on a PyTorch engine.

``import torchcaffe as caffe`` is meant as a drop-in for BVLC pycaffe.
"""
from .proto import caffe_pb2  # noqa: F401
from .net_spec import NetSpec, layers, params, to_proto  # noqa: F401
from . import coord_map  # noqa: F401
