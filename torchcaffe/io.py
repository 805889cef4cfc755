"""Blobs of Caffe's files as numpy arrays: the part of pycaffe's ``caffe.io`` that
weights, solverstates and mean files need.

Speed matters: VGG16's caffemodel holds 138M floats. Reading uses protobuf's native
``__array__`` of repeated fields (a memcpy: 0.08 s per 100M floats with protobuf 7
upb; older protobufs iterate per element, ~6 s). Writing hands protobuf the packed
field's bytes in one piece (0.5 s per 100M floats; ``blob.data.extend`` takes 5-18 s).
"""
import math

import numpy as np

from .errors import FormatError
from .proto import caffe_pb2

_LEGACY_DIMS = ('num', 'channels', 'height', 'width')
_DATA_TAG = b'\x2a'  # BlobProto.data: field 5, length-delimited (packed floats)
_DIFF_TAG = b'\x32'  # BlobProto.diff: field 6


def is_legacy(blob):
    """Whether ``blob`` gives its shape by the old num/channels/height/width fields.

    Caffe's rule (Blob::FromProto): any of the four present wins over ``shape``.
    """
    return any(blob.HasField(d) for d in _LEGACY_DIMS)


def blob_shape(blob):
    """The shape stored in ``blob``: N-d ``shape``, or legacy (num, channels, height, width).

    Legacy shapes are 4-d as written: an old InnerProduct weight is (1, 1, M, N).
    """
    if is_legacy(blob):
        return tuple(getattr(blob, d) for d in _LEGACY_DIMS)
    return tuple(blob.shape.dim)


def shape_equals(blob, shape):
    """Whether ``blob`` fits a param of ``shape``, by Caffe's Blob::ShapeEquals.

    A legacy blob is compared right-aligned, missing leading axes counting as 1, so
    1x1xMxN fits (M, N) and 1x1x1xN fits (N,); an N-d ``shape`` must match exactly.
    """
    shape = tuple(shape)
    if is_legacy(blob):
        return len(shape) <= 4 and (1,) * (4 - len(shape)) + shape == blob_shape(blob)
    return shape == blob_shape(blob)


def blobproto_to_array(blob, return_diff=False):
    """The blob's data (or diff) as a new float32 array of ``blob_shape(blob)``.

    ``double_data``/``double_diff`` are used when present, as Caffe does.
    Raises FormatError when the number of values does not match the shape.
    """
    if return_diff:
        values = blob.double_diff if len(blob.double_diff) else blob.diff
    else:
        values = blob.double_data if len(blob.double_data) else blob.data
    shape = blob_shape(blob)
    if len(values) != math.prod(shape):
        raise FormatError('blob of shape %s holds %d %s values, expected %d'
                          % (shape, len(values), 'diff' if return_diff else 'data',
                             math.prod(shape)))
    return np.array(values, dtype=np.float32).reshape(shape)


def array_to_blobproto(arr, diff=None):
    """A BlobProto holding ``arr`` (and ``diff``) as float32, with an N-d ``shape``."""
    arr = np.asarray(arr)
    pieces = _packed_floats(_DATA_TAG, arr)
    if diff is not None:
        diff = np.asarray(diff)
        if diff.size != arr.size:
            raise ValueError('diff has %d values, data %d' % (diff.size, arr.size))
        pieces += _packed_floats(_DIFF_TAG, diff)
    blob = caffe_pb2.BlobProto.FromString(b''.join(pieces))
    blob.shape.SetInParent()  # a 0-d array still gets a (dimensionless) shape, as in Caffe
    blob.shape.dim.extend(arr.shape)
    return blob


def _packed_floats(tag, arr):
    """Wire pieces of a packed repeated float field holding ``arr``: header, then values."""
    values = np.ascontiguousarray(arr, dtype='<f4').reshape(-1)
    return [tag + _varint(values.nbytes), values]


def _varint(n):
    """Protobuf's base-128 varint encoding of ``n`` >= 0."""
    out = bytearray()
    while n >= 0x80:
        out.append(n & 0x7f | 0x80)
        n >>= 7
    out.append(n)
    return bytes(out)
