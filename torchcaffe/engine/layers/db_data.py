"""Data: batches of Datum records read in key order from an LMDB or LevelDB
database, starting over at the end, through the transformer."""
import os

import numpy as np

from ...proto import caffe_pb2
from ...extras import require
from ..images import UNCHANGED, COLOR, GRAY, chw, decode
from ..layer import register
from .base_data import BaseData

_DB = caffe_pb2.DataParameter


def _lmdb_values(layer, source):
    """The values of LMDB database ``source`` in key order (one pass)."""
    lmdb = require('lmdb', 'an LMDB database', layer)
    try:
        env = lmdb.open(source, readonly=True, lock=False, readahead=False)
    except lmdb.Error as e:
        raise layer.error("cannot open LMDB database '%s': %s" % (source, e)) from None
    try:
        with env.begin(buffers=False) as txn:
            for _, value in txn.cursor():
                yield value
    finally:
        env.close()


def _leveldb_values(layer, source):
    """The values of LevelDB database ``source`` in key order (one pass)."""
    plyvel = require('plyvel', 'a LevelDB database', layer)
    try:
        db = plyvel.DB(source)
    except (plyvel.Error, OSError) as e:
        raise layer.error("cannot open LevelDB database '%s': %s" % (source, e)) from None
    try:
        for _, value in db.iterator():
            yield value
    finally:
        db.close()


def datum_image(layer, datum):
    """A Datum's image as a (C, H, W) array: uint8 for bytes, float32 for float_data."""
    t = layer.param.transform_param
    if datum.encoded:
        if t.force_color and t.force_gray:
            raise layer.error('transform_param: give force_color or force_gray, not both')
        mode = COLOR if t.force_color else GRAY if t.force_gray else UNCHANGED
        return chw(decode(datum.data, mode))
    shape = (datum.channels, datum.height, datum.width)
    if datum.data:
        values = np.frombuffer(datum.data, np.uint8)
    else:
        values = np.array(datum.float_data, np.float32)
    if values.size != int(np.prod(shape)):
        raise layer.error('a Datum of shape %s holds %d values' % (shape, values.size))
    return values.reshape(shape)


@register('Data')
class Data(BaseData):
    """Caffe 1.0 ignores data_param.rand_skip here (only ImageData skips)."""

    def data_setup(self, top):
        p = self.param.data_param
        if p.backend not in (_DB.LMDB, _DB.LEVELDB):
            raise self.error('data_param.backend %d is not LMDB or LEVELDB' % p.backend)
        if p.batch_size <= 0:
            raise self.error('data_param.batch_size must be positive')
        if not os.path.isdir(p.source):
            raise self.error("data_param.source '%s' is not a database directory" % p.source)
        self.values = self._records()
        datum = self._peek()
        shape = self.transformer.shape(*datum_image(self, datum).shape)
        top[0].reshape((p.batch_size,) + shape)
        if len(top) > 1:
            top[1].reshape((p.batch_size,))

    def _records(self):
        """Datum records forever: the database in key order, again and again."""
        p = self.param.data_param
        read = _lmdb_values if p.backend == _DB.LMDB else _leveldb_values
        while True:
            empty = True
            for value in read(self, p.source):
                empty = False
                datum = caffe_pb2.Datum()
                datum.ParseFromString(value)
                yield datum
            if empty:
                raise self.error("data_param.source '%s' holds no records" % p.source)

    def _peek(self):
        """The next record without consuming it."""
        self.pending = next(self.values)
        return self.pending

    def _next(self):
        datum, self.pending = self.pending, None
        return datum if datum is not None else next(self.values)

    def load_batch(self):
        n = self.param.data_param.batch_size
        datums = [self._next() for _ in range(n)]
        images = [datum_image(self, d) for d in datums]
        first = self.transformer.shape(*images[0].shape)  # each batch takes its first record's shape
        data = np.empty((n,) + first, np.float32)
        for i, img in enumerate(images):
            out = self.transformer(img)
            if out.shape != first:
                raise self.error('record %d of the batch has shape %s, the first %s'
                                 % (i, img.shape, images[0].shape))
            data[i] = out
        return data, np.array([d.label for d in datums], np.float32)
