"""MemoryData: batches cut in turn from arrays the caller hands over with
``Net.set_input_arrays(data, labels)``; the transformer is not applied to them."""
import numpy as np

from ...errors import NetError
from ..layer import register
from .base_data import BaseData


@register('MemoryData')
class MemoryData(BaseData):
    exact_tops = 2

    def data_setup(self, top):
        p = self.param.memory_data_param
        self.batch_size = p.batch_size
        self.sample_shape = (p.channels, p.height, p.width)
        if self.batch_size * int(np.prod(self.sample_shape)) <= 0:
            raise self.error('memory_data_param: batch_size, channels, height and width must be '
                             'given and positive')
        self.arrays = None
        top[0].reshape((self.batch_size,) + self.sample_shape)
        top[1].reshape((self.batch_size,))

    def reset(self, data, labels):
        """Serve batches from ``data`` (N, C, H, W) and ``labels`` (N, 1, 1, 1) from the start."""
        if len(data) % self.batch_size:
            raise self.error('%d samples are not a multiple of the batch size %d' % (len(data), self.batch_size))
        self.arrays, self.pos = (data, labels), 0

    def load_batch(self):
        if self.arrays is None:
            raise self.error('no data: call Net.set_input_arrays(data, labels) first')
        data, labels = self.arrays
        s = slice(self.pos, self.pos + self.batch_size)
        self.pos = (self.pos + self.batch_size) % len(data)
        return data[s], labels[s].reshape(self.batch_size, 1, 1, 1)  # Caffe's forward makes labels 4-d


def _check_array(arr, name, shape):
    """pycaffe's checks: C-contiguous, 4-d, float32, with ``shape`` after the batch axis."""
    if not isinstance(arr, np.ndarray) or not arr.flags.c_contiguous:
        raise RuntimeError('%s must be C contiguous' % name)
    if arr.ndim != 4:
        raise RuntimeError('%s must be 4-d' % name)
    if arr.dtype != np.float32:
        raise RuntimeError('%s must be float32' % name)
    for axis, what in zip((1, 2, 3), ('number of channels', 'height', 'width')):
        if arr.shape[axis] != shape[axis - 1]:
            raise RuntimeError('%s has wrong %s' % (name, what))


def set_input_arrays(net, data, labels):
    """pycaffe's Net.set_input_arrays: feed the MemoryData layer that must come first.

    Like Caffe, the arrays are not copied: later writes to them show in later batches."""
    if not net.layers or not isinstance(net.layers[0], MemoryData):
        raise NetError('set_input_arrays may only be called if the first layer is a MemoryDataLayer')
    layer = net.layers[0]
    if isinstance(labels, np.ndarray) and labels.ndim == 1:
        labels = np.ascontiguousarray(labels[:, None, None, None])
    _check_array(data, 'data array', layer.sample_shape)
    _check_array(labels, 'labels array', (1, 1, 1))
    if data.shape[0] != labels.shape[0]:
        raise RuntimeError('data and labels must have the same first dimension')
    if data.shape[0] % layer.batch_size:
        raise RuntimeError('first dimensions of input arrays must be a multiple of batch size')
    layer.reset(data, labels)
