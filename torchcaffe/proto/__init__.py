"""Caffe's protobuf schema (``caffe.proto``) and its generated module."""
import sys
import types

from google.protobuf import descriptor_pool
from google.protobuf.internal import builder


def _reuse_registered_schema():
    """Build ``caffe_pb2`` from a ``caffe.proto`` already in protobuf's pool.

    BVLC pycaffe ships the same schema under the same file name. When it is
    imported first, protobuf refuses our copy as a duplicate (it compares its
    own rendering of the stored file, which spells float defaults differently,
    so even identical bytes differ). Reusing its descriptor gives the same
    message classes to both modules. scripts/build_pycaffe.sh patches pycaffe
    to do the same when torchcaffe comes first.
    """
    try:
        file = descriptor_pool.Default().FindFileByName('caffe.proto')
    except KeyError:
        return  # the usual case: caffe_pb2.py registers the schema itself
    module = types.ModuleType(__name__ + '.caffe_pb2')
    module.DESCRIPTOR = file
    builder.BuildMessageAndEnumDescriptors(file, module.__dict__)
    builder.BuildTopDescriptorsAndMessages(file, module.__name__, module.__dict__)
    sys.modules[module.__name__] = module


_reuse_registered_schema()
