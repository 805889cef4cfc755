"""The committed caffe_pb2.py is generated from the committed caffe.proto."""
import os
import shutil
import subprocess

import numpy as np
import pytest
from google.protobuf import descriptor_pb2

from torchcaffe.proto import caffe_pb2

PROTO_DIR = os.path.dirname(caffe_pb2.__file__)
FLOAT_TYPES = {descriptor_pb2.FieldDescriptorProto.TYPE_FLOAT: np.float32,
               descriptor_pb2.FieldDescriptorProto.TYPE_DOUBLE: np.float64}


def normalize(messages):
    """Drop what differs between protoc's output paths but not in meaning."""
    for m in messages:
        for f in m.field:
            f.ClearField('json_name')  # descriptor sets carry it, gencode does not
            if f.type in FLOAT_TYPES and f.HasField('default_value'):
                f.default_value = repr(float(FLOAT_TYPES[f.type](f.default_value)))
        normalize(m.nested_type)


def test_generated_module_matches_proto(tmp_path):
    exe = shutil.which('protoc')
    if exe is None:
        pytest.fail('protoc is needed to check caffe_pb2.py against caffe.proto '
                    '(apt-get install protobuf-compiler)')
    out = tmp_path / 'caffe.pb'
    subprocess.run([exe, '-I', PROTO_DIR, '--descriptor_set_out', str(out),
                    os.path.join(PROTO_DIR, 'caffe.proto')], check=True)
    fresh = descriptor_pb2.FileDescriptorSet.FromString(out.read_bytes()).file[0]
    committed = descriptor_pb2.FileDescriptorProto.FromString(
        caffe_pb2.DESCRIPTOR.serialized_pb)
    normalize(fresh.message_type)
    normalize(committed.message_type)
    assert fresh == committed, 'caffe_pb2.py is stale: regenerate it (see caffe.proto)'


def test_schema_has_caffe_wire_numbers():
    # Spot checks of numbers that Caffe's files depend on.
    f = caffe_pb2.NetParameter.DESCRIPTOR.fields_by_name
    assert f['layer'].number == 100 and f['layers'].number == 2
    lp = caffe_pb2.LayerParameter.DESCRIPTOR.fields_by_name
    assert lp['convolution_param'].number == 106 and lp['python_param'].number == 130
    assert lp['crop_param'].number == 144 and lp['scale_param'].number == 142
    v1 = caffe_pb2.V1LayerParameter
    assert v1.DECONVOLUTION == 39 and v1.DESCRIPTOR.fields_by_name['blobs_lr'].number == 7
    assert caffe_pb2.SolverState.DESCRIPTOR.fields_by_name['history'].number == 3
