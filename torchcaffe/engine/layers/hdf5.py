"""HDF5Data (batches of rows of the datasets named by the tops, from the files a
list names, in turn and starting over) and HDF5Output (writes its two bottoms to
datasets ``data`` and ``label``)."""
import numpy as np
import torch

from ...extras import require
from ..layer import Layer, register
from .base_data import put


@register('HDF5Data')
class HDF5Data(Layer):
    exact_bottoms = 0
    min_tops = 1

    def layer_setup(self, bottom, top):
        if self.param.HasField('transform_param'):
            raise self.error('HDF5Data does not transform data: remove transform_param')
        self.h5py = require('h5py', 'an HDF5 file', self)
        p = self.param.hdf5_data_param
        try:
            with open(p.source) as f:
                self.files = f.read().split()  # whitespace-separated names, as Caffe's >> reads them
        except OSError as e:
            raise self.error("cannot read hdf5_data_param.source '%s': %s" % (p.source, e.strerror)) from None
        if not self.files:
            raise self.error("hdf5_data_param.source '%s' lists no HDF5 file" % p.source)
        self.file_order = self._order(len(self.files))
        self.current_file = 0
        self._load(self.files[self.file_order[0]])
        for t, d in zip(top, self.datasets):
            t.reshape((p.batch_size,) + d.shape[1:])

    def _order(self, n):
        """0..n-1, shuffled when hdf5_data_param.shuffle is set."""
        if self.param.hdf5_data_param.shuffle:
            return torch.randperm(n).tolist()
        return list(range(n))

    def _load(self, filename):
        """Read the datasets of the tops from ``filename`` (as float32, like Caffe)."""
        try:
            f = self.h5py.File(filename, 'r')
        except OSError as e:
            raise self.error("cannot open HDF5 file '%s': %s" % (filename, e)) from None
        with f:
            self.datasets = [self._dataset(f, filename, name) for name in self.param.top]
        rows = self.datasets[0].shape[0]
        for name, d in zip(self.param.top, self.datasets):
            if d.shape[0] != rows:
                raise self.error("HDF5 file '%s': dataset '%s' has %d rows, '%s' %d"
                                 % (filename, name, d.shape[0], self.param.top[0], rows))
        self.row_order = self._order(rows)
        self.current_row = 0

    def _dataset(self, f, filename, name):
        if name not in f or not isinstance(f[name], self.h5py.Dataset):
            raise self.error("HDF5 file '%s' has no dataset '%s'" % (filename, name))
        d = f[name]
        if d.dtype.kind not in 'fiu' or d.ndim < 1:
            raise self.error("HDF5 file '%s': dataset '%s' must hold numbers in at least one axis, "
                             "not %s of shape %s" % (filename, name, d.dtype, d.shape))
        return np.asarray(d[()], np.float32)

    def _next(self):
        """Move to the next row: the next file (or the first again) after the last."""
        self.current_row += 1
        if self.current_row < self.datasets[0].shape[0]:
            return
        if len(self.files) > 1:
            self.current_file += 1
            if self.current_file == len(self.files):
                self.current_file = 0
                self.file_order = self._order(len(self.files))
            self._load(self.files[self.file_order[self.current_file]])
        self.current_row = 0
        self.row_order = self._order(self.datasets[0].shape[0])

    def reshape(self, bottom, top):
        pass  # shapes are set at setup

    def forward(self, bottom, top):
        rows = [[] for _ in top]
        for _ in range(self.param.hdf5_data_param.batch_size):
            r = self.row_order[self.current_row]
            for out, d, t in zip(rows, self.datasets, top):
                if d[r].size != np.prod(t.shape[1:]):
                    raise self.error("an HDF5 row of shape %s for top of shape %s" % (d[r].shape, t.shape))
                out.append(d[r].reshape(t.shape[1:]))
            self._next()
        for out, t in zip(rows, top):
            put(t, np.stack(out), self.device)


@register('HDF5Output')
class HDF5Output(Layer):
    """Caffe creates the file at setup and cannot write a second batch into it."""
    exact_bottoms = 2
    exact_tops = 0

    def layer_setup(self, bottom, top):
        self.h5py = require('h5py', 'an HDF5 file', self)
        self.file_name = self.param.hdf5_output_param.file_name
        try:
            self.h5py.File(self.file_name, 'w').close()
        except OSError as e:
            raise self.error("cannot create hdf5_output_param.file_name '%s': %s" % (self.file_name, e)) from None
        self.written = False

    def reshape(self, bottom, top):
        if bottom[0].num != bottom[1].num:
            raise self.error('data and label bottoms have batch sizes %d and %d'
                             % (bottom[0].num, bottom[1].num))

    def forward(self, bottom, top):
        if self.written:
            raise self.error("'%s' holds a batch already: Caffe writes one batch per file" % self.file_name)
        with self.h5py.File(self.file_name, 'a') as f:
            for name, b in zip(('data', 'label'), bottom):
                legacy = (b.num, b.channels, b.height, b.width)  # Caffe saves 4-d
                f.create_dataset(name, data=b.read_data().reshape(legacy))
        self.written = True

    def backward(self, top, propagate_down, bottom):
        pass  # Caffe leaves the bottom diffs as they are
