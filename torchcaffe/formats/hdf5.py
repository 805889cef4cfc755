"""Caffe's HDF5 weights (Net::ToHDF5, CopyTrainedLayersFromHDF5).

A file holds a group ``data`` (and ``diff`` when diffs are written) with one
group per layer, in the net's order, and in it one float32 dataset per
parameter blob named by its index: ``data/conv1/0``. h5py is an optional extra.
"""
import io
import os

import numpy as np

from ..errors import FormatError
from ..extras import require
from .files import atomic_write


def h5py():
    return require('h5py', 'HDF5 weights')


def is_hdf5(path):
    """Whether Caffe would read ``path`` as HDF5 weights (its test: the name ends in .h5)."""
    return os.fspath(path).endswith('.h5')


def write_params(path, layers, write_diff=False):
    """Write ``layers``, [(name, [(data, diff or None, own)])], atomically; only the
    blobs a layer owns get data (a shared one is its owner's), every blob its diff."""
    buffer = io.BytesIO()  # built in memory, then written in one atomic replace
    with h5py().File(buffer, 'w') as f:
        data = f.create_group('data')
        diff = f.create_group('diff') if write_diff else None
        for name, blobs in layers:
            if '/' in name:  # HDF5 reads it as a path; Caffe's ToHDF5 fails on it too
                raise FormatError("%s: layer '%s': a name with '/' cannot be an HDF5 group "
                                  "(save a .caffemodel instead)" % (path, name))
            group = data.create_group(name)
            dgroup = diff.create_group(name) if write_diff else None
            for j, (values, grads, own) in enumerate(blobs):
                if own:
                    group.create_dataset(str(j), data=np.asarray(values, np.float32))
                if write_diff:
                    dgroup.create_dataset(str(j), data=np.asarray(grads, np.float32))
    atomic_write(path, buffer.getvalue())


def read_params(path):
    """{layer: {index: array}} of the ``data`` group of HDF5 weights at ``path``."""
    path = os.fspath(path)
    try:
        with h5py().File(path, 'r') as f:
            if 'data' not in f:
                raise FormatError("%s: no 'data' group (not Caffe HDF5 weights)" % path)
            return {name: {int(k): np.asarray(v, np.float32) for k, v in group.items()}
                    for name, group in f['data'].items()}
    except OSError as e:
        raise FormatError('%s: cannot read HDF5 weights: %s' % (path, e)) from None
