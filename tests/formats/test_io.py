"""Blobs <-> numpy: shapes (N-d and legacy 4-d), Caffe's shape rule, dtypes and speed."""
import time
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from torchcaffe import io
from torchcaffe.errors import FormatError
from torchcaffe.formats import binaryproto
from torchcaffe.proto import caffe_pb2

GOLDEN = Path(__file__).parent.parent / 'golden'


@pytest.mark.parametrize('shape', [(), (0,), (5,), (2, 3), (1, 1, 5, 64), (2, 3, 4, 5, 6)])
@pytest.mark.parametrize('dtype', [np.float32, np.float64, np.float16, np.int32, np.uint8,
                                   np.bool_])
def test_array_round_trip(shape, dtype):
    rng = np.random.default_rng(0)
    arr = (rng.standard_normal(shape) * 100).astype(dtype)
    diff = arr[::-1] if arr.ndim else arr  # another array of the same shape
    blob = io.array_to_blobproto(arr, diff)
    assert io.blob_shape(blob) == shape and not io.is_legacy(blob)
    for got, want in ((io.blobproto_to_array(blob), arr),
                      (io.blobproto_to_array(blob, return_diff=True), diff)):
        assert got.dtype == np.float32 and got.shape == shape
        np.testing.assert_array_equal(got, want.astype(np.float32))
    assert caffe_pb2.BlobProto.FromString(blob.SerializeToString()) == blob


@settings(max_examples=50, deadline=None)
@given(hnp.arrays(np.float32, hnp.array_shapes(min_dims=0, max_dims=5, max_side=6),
                  elements=st.floats(width=32, allow_nan=False)))
def test_float32_arrays_round_trip_exactly(arr):
    got = io.blobproto_to_array(io.array_to_blobproto(arr))
    assert got.shape == arr.shape
    assert got.tobytes() == arr.tobytes()  # bit for bit, -0.0 and infinities included


def test_non_contiguous_and_big_endian_input():
    arr = np.arange(24, dtype='>f8').reshape(4, 6)[:, ::2]
    np.testing.assert_array_equal(io.blobproto_to_array(io.array_to_blobproto(arr)), arr)


def test_written_blobs_equal_caffes():
    # Caffe's Blob::ToProto wrote these (net.save, solverstate history): shape + float data.
    blobs = [b for layer in binaryproto.read(GOLDEN / 'v1_net' / 'resaved.caffemodel',
                                             caffe_pb2.NetParameter).layer for b in layer.blobs]
    state = binaryproto.read(GOLDEN / 'solver_adam' / 'snapshot_iter_4.solverstate',
                             caffe_pb2.SolverState)
    blobs += list(state.history)
    assert len(blobs) > 4
    for blob in blobs:
        mine = io.array_to_blobproto(io.blobproto_to_array(blob))
        assert mine.SerializeToString() == blob.SerializeToString()


def legacy_blob(num, channels, height, width, **values):
    blob = caffe_pb2.BlobProto(num=num, channels=channels, height=height, width=width, **values)
    blob.shape.dim.extend([7])  # ignored: legacy fields win, as in Caffe
    return blob


def test_legacy_4d_blob():
    blob = legacy_blob(1, 1, 2, 3, data=range(6), diff=range(6, 12))
    assert io.is_legacy(blob) and io.blob_shape(blob) == (1, 1, 2, 3)
    np.testing.assert_array_equal(io.blobproto_to_array(blob),
                                  np.arange(6, dtype=np.float32).reshape(1, 1, 2, 3))
    np.testing.assert_array_equal(io.blobproto_to_array(blob, return_diff=True).ravel(),
                                  np.arange(6, 12))


def test_legacy_fields_partly_given_default_to_zero():
    blob = caffe_pb2.BlobProto(width=3, data=[1, 2, 3])
    assert io.blob_shape(blob) == (0, 0, 0, 3)
    with pytest.raises(FormatError, match='holds 3 data values, expected 0'):
        io.blobproto_to_array(blob)


def test_double_data_is_preferred():
    blob = caffe_pb2.BlobProto(data=[9, 9], double_data=[0.5, 1e-40], double_diff=[3, 4])
    blob.shape.dim.extend([2])
    np.testing.assert_array_equal(io.blobproto_to_array(blob), np.float32([0.5, 1e-40]))
    np.testing.assert_array_equal(io.blobproto_to_array(blob, return_diff=True), [3, 4])


def test_count_mismatch_and_missing_diff():
    blob = io.array_to_blobproto(np.zeros((2, 3)))
    del blob.data[-1]
    with pytest.raises(FormatError, match=r'blob of shape \(2, 3\) holds 5 data values'):
        io.blobproto_to_array(blob)
    with pytest.raises(FormatError, match='holds 0 diff values'):
        io.blobproto_to_array(io.array_to_blobproto(np.zeros(2)), return_diff=True)
    with pytest.raises(ValueError, match='diff has 3 values, data 2'):
        io.array_to_blobproto(np.zeros(2), np.zeros(3))


@pytest.mark.parametrize('stored, shape, fits', [
    ((1, 1, 5, 64), (5, 64), True),      # InnerProduct weight of old caffemodels
    ((1, 1, 5, 64), (1, 5, 64), True),
    ((1, 1, 5, 64), (1, 1, 5, 64), True),
    ((1, 1, 5, 64), (64, 5), False),
    ((1, 1, 5, 64), (320,), False),      # same count is not enough
    ((1, 1, 1, 4), (4,), True),          # bias
    ((1, 1, 1, 4), (1, 1, 1, 1, 4), False),  # more than 4 axes never fit a legacy blob
    ((4, 3, 3, 3), (4, 3, 3, 3), True),
    ((4, 3, 3, 3), (4, 27), False),
])
def test_shape_equals_legacy(stored, shape, fits):
    assert io.shape_equals(legacy_blob(*stored), shape) is fits


def test_shape_equals_nd_is_exact():
    blob = io.array_to_blobproto(np.zeros((5, 64)))
    assert io.shape_equals(blob, (5, 64)) and io.shape_equals(blob, [5, 64])
    assert not io.shape_equals(blob, (1, 1, 5, 64))
    assert not io.shape_equals(blob, (1, 5, 64))


def test_large_blob_conversion_is_not_per_element():
    # Per-element conversion (pre-upb protobuf, or blob.data.extend) takes ~0.1 us a float,
    # i.e. >= 0.4 s here; the bulk paths take a few milliseconds.
    arr = np.random.default_rng(0).random(4_000_000, dtype=np.float32)

    def best_of(f, n=3):
        times = []
        for _ in range(n):
            start = time.perf_counter()
            result = f()
            times.append(time.perf_counter() - start)
        return min(times), result

    write_s, blob = best_of(lambda: io.array_to_blobproto(arr))
    read_s, back = best_of(lambda: io.blobproto_to_array(blob))
    np.testing.assert_array_equal(back, arr)
    assert write_s < 0.15 and read_s < 0.1, (write_s, read_s)
