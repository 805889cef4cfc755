"""Blob: an N-d float32 array with data and diff, pycaffe's view of Caffe memory.

Each of data and diff lives in a SyncedArray, the analogue of Caffe's
SyncedMemory: the engine works on a torch tensor on the compute device, users
read and write numpy arrays. On the CPU both are one buffer. On a GPU, handing
out the numpy array moves the "head" to the host (the user may write to it),
and the next engine access copies it back, so a host write is seen by the next
forward and reading after a forward sees the new values. In bf16 mode a layer may
leave a bfloat16 tensor; it is held like a device tensor, and the host sees it as
float32.
"""
import numpy as np
import torch

_HOST, _DEVICE, _SYNCED = 0, 1, 2


class SyncedArray:
    """One buffer (float32 to the host), allocated lazily and zero-filled like Caffe's."""

    __slots__ = ('shape', 'device', '_tensor', '_host', '_head', '_handouts', '_derived')

    def __init__(self, shape, device):
        self.shape = tuple(shape)
        self.device = device
        self._tensor = None
        self._host = None
        self._head = _SYNCED
        self._handouts = 0  # host arrays handed out: any of them may have been written
        self._derived = None  # (tensor, stamp, {key: tensor made from it})

    def _allocate(self):
        if self.device.type == 'cpu':
            self._host = np.zeros(self.shape, np.float32)
            self._tensor = torch.from_numpy(self._host)
        else:
            self._tensor = torch.zeros(self.shape, dtype=torch.float32, device=self.device)
        self._head = _SYNCED

    @property
    def allocated(self):
        return self._tensor is not None or self._host is not None

    def tensor(self):
        """The device tensor, for the engine to read or write in place."""
        if self._tensor is None and self._host is None:
            self._allocate()
        elif self._head == _HOST:
            self._tensor = torch.from_numpy(self._host).to(self.device)
        if self.device.type != 'cpu':
            self._head = _DEVICE
        return self._tensor

    def set_tensor(self, t):
        """Replace the contents by ``t`` (same shape; becomes the buffer)."""
        if tuple(t.shape) != self.shape:
            raise ValueError('tensor of shape %s for a buffer of shape %s'
                             % (tuple(t.shape), self.shape))
        if t.dtype not in (torch.float32, torch.bfloat16):
            t = t.float()
        if t.device != self.device:
            t = t.to(self.device)
        # numpy views channels-last tensors with strides; anything else is compacted
        if not (t.is_contiguous() or t.is_contiguous(memory_format=torch.channels_last)):
            t = t.clone(memory_format=torch.preserve_format)  # a slice of channels-last stays so
        if t.dtype != torch.float32:  # an activation of bf16 mode: float32 host copy on demand
            self._host = None
            self._head = _DEVICE
        elif self.device.type == 'cpu':
            self._host = t.numpy()
            self._head = _SYNCED
        else:
            self._head = _DEVICE
        self._derived = None
        self._tensor = t

    def array(self):
        """The host numpy array; the caller may write to it."""
        if self._tensor is None and self._host is None:
            self._allocate()
        self._handouts += 1
        if self.device.type == 'cpu':
            if self._head == _DEVICE:  # a bf16 tensor: from now on one float32 buffer again
                self.set_tensor(self._tensor.float())
            return self._host
        if self._head == _DEVICE:
            self._host = self._tensor.float().cpu().numpy()
        self._head = _HOST
        return self._host

    def derived(self, key, make):
        """``make(tensor)`` (a cast, a packed layout), kept under ``key`` until the tensor
        changes (replaced, or written in place) or a host array is handed out, as Caffe
        keeps a device copy until its head moves: a write through a numpy array held
        since before is not seen, as in Caffe's GPU mode."""
        t = self.tensor()
        stamp = (t._version, self._handouts)
        if self._derived is None or self._derived[0] is not t or self._derived[1] != stamp:
            self._derived = (t, stamp, {})
        made = self._derived[2]
        if key not in made:
            made[key] = make(t)
        return made[key]

    def to_float32(self):
        """Hold the contents as float32 (for layers that compute only in float32)."""
        if self._head == _DEVICE and self._tensor.dtype != torch.float32:
            self.set_tensor(self._tensor.float())

    def to(self, device):
        """Move the buffer to ``device`` keeping its contents."""
        if device == self.device:
            return
        if self.allocated:
            host = self.array()
            self.device = device
            if device.type == 'cpu':
                self._host = np.ascontiguousarray(host)
                self._tensor = torch.from_numpy(self._host)
                self._head = _SYNCED
            else:
                self._tensor = None
                self._head = _HOST
        else:
            self.device = device

    def reshaped(self, shape):
        """A SyncedArray of ``shape``: a view of this one when counts agree."""
        out = SyncedArray(shape, self.device)
        if self.allocated and int(np.prod(shape)) == int(np.prod(self.shape)):
            if self._head == _HOST:
                out._host = self._host.reshape(out.shape)
                out._head = _HOST
            else:
                out.set_tensor(self._tensor.reshape(out.shape))
        return out


class Blob:
    """pycaffe's Blob: ``data``/``diff`` as writable numpy, shape helpers, reshape."""

    __slots__ = ('_data', '_diff', '__weakref__')

    def __init__(self, shape=(), device=None):
        device = device or torch.device('cpu')
        shape = tuple(int(d) for d in shape)
        self._data = SyncedArray(shape, device)
        self._diff = SyncedArray(shape, device)

    # -- pycaffe surface ------------------------------------------------
    @property
    def shape(self):
        return self._data.shape

    @property
    def count(self):
        return int(np.prod(self.shape, dtype=np.int64))

    @property
    def num(self):
        return self.shape[0] if len(self.shape) > 0 else 1

    @property
    def channels(self):
        return self.shape[1] if len(self.shape) > 1 else 1

    @property
    def height(self):
        return self.shape[2] if len(self.shape) > 2 else 1

    @property
    def width(self):
        return self.shape[3] if len(self.shape) > 3 else 1

    @property
    def data(self):
        return self._data.array()

    @data.setter
    def data(self, value):
        self._data.array()[...] = value

    @property
    def diff(self):
        return self._diff.array()

    @diff.setter
    def diff(self, value):
        self._diff.array()[...] = value

    def reshape(self, *shape):
        """Change the shape; contents are kept when the count is unchanged."""
        if len(shape) == 1 and isinstance(shape[0], (tuple, list)):
            shape = shape[0]
        shape = tuple(int(d) for d in shape)
        if any(d < 0 for d in shape):
            raise ValueError('negative blob dimension in %s' % (shape,))
        if shape != self.shape:
            self._data = self._data.reshaped(shape)
            self._diff = self._diff.reshaped(shape)

    # -- engine surface -------------------------------------------------
    @property
    def device(self):
        return self._data.device

    @property
    def tdata(self):
        """Data as a device tensor."""
        return self._data.tensor()

    @tdata.setter
    def tdata(self, t):
        self._data.set_tensor(t)

    @property
    def tdiff(self):
        """Diff as a device tensor."""
        return self._diff.tensor()

    @tdiff.setter
    def tdiff(self, t):
        self._diff.set_tensor(t)

    def derived_data(self, key, make):
        """``make(data tensor)``, remade only when the data changes (see SyncedArray.derived)."""
        return self._data.derived(key, make)

    def to_float32(self):
        """Hold data and diff as float32, whatever the layer before computed them in."""
        self._data.to_float32()
        self._diff.to_float32()

    def share_data(self, other):
        """Use ``other``'s data buffer (Caffe's ShareData): writes show in both."""
        self._data = other._data

    def share_diff(self, other):
        self._diff = other._diff

    def to(self, device):
        self._data.to(device)
        if self._diff is not self._data:
            self._diff.to(device)

    def __repr__(self):
        return 'Blob%s' % (self.shape,)
