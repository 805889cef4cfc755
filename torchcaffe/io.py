"""BlobProto <-> numpy (placeholder until the formats branch lands)."""
import numpy as np

from .proto import caffe_pb2


def blob_shape(blob):
    """Shape stored in a BlobProto: ``shape``, else the legacy 4-d fields."""
    if blob.HasField('num') or blob.HasField('channels') or blob.HasField('height') or blob.HasField('width'):
        return (blob.num, blob.channels, blob.height, blob.width)
    return tuple(blob.shape.dim)


def shape_equals(blob, shape):
    """Caffe's Blob::ShapeEquals: legacy shapes compare right-aligned."""
    if blob.HasField('num') or blob.HasField('channels') or blob.HasField('height') or blob.HasField('width'):
        if len(shape) > 4:
            return False
        legacy = (1,) * (4 - len(shape)) + tuple(shape)
        return legacy == (blob.num, blob.channels, blob.height, blob.width)
    return tuple(blob.shape.dim) == tuple(shape)


def blobproto_to_array(blob, return_diff=False):
    values = (blob.double_diff or blob.diff) if return_diff else (blob.double_data or blob.data)
    return np.array(values, np.float32).reshape(blob_shape(blob))


def array_to_blobproto(arr, diff=None):
    blob = caffe_pb2.BlobProto()
    blob.shape.dim.extend(arr.shape)
    blob.data.extend(np.asarray(arr, np.float32).ravel().tolist())
    if diff is not None:
        blob.diff.extend(np.asarray(diff, np.float32).ravel().tolist())
    return blob
