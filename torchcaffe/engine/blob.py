"""Blob: an N-d float32 array with data and diff, pycaffe's view of Caffe memory.

Each of data and diff lives in a SyncedArray, the analogue of Caffe's
SyncedMemory: the engine works on a torch tensor on the compute device, users
read and write numpy arrays. On the CPU both are one buffer. On a GPU the two
copies are kept like Caffe's: handing out the numpy array moves the "head" to
the host (the user may write to it), the next engine access uploads it and both
copies are then in sync until the engine writes the tensor (its version counter
moves) or replaces it; only then does the host read download again. Transfers
go through pinned memory without waiting for the device, and ``start_download``
begins a host copy early (the loss, read after the backward pass is queued), so
a training iteration does not stall the GPU. In bf16 mode a layer may leave a
bfloat16 tensor; it is held like a device tensor, and the host sees it as float32.
"""
import math

import numpy as np
import torch

from . import repeats

_NONE, _HOST, _DEVICE, _SYNCED = 'none', 'host', 'device', 'synced'

# Tests set this to run the CPU as a discrete device (separate host and device
# copies), so the GPU memory protocol runs, and its transfers can be counted, without a GPU.
DISCRETE_CPU = False


def _upload(host, device):
    """A device copy of a host array; on CUDA staged through fresh pinned memory, so the
    copy neither waits for the device nor races later writes to the host array."""
    t = torch.from_numpy(host)
    if device.type == 'cuda':
        staged = torch.empty(t.shape, dtype=t.dtype, pin_memory=True)
        staged.copy_(t)
        return staged.to(device, non_blocking=True)
    return t.to(device, copy=True)


def _download(t):
    """``(host float32 array, CUDA event marking it complete or None)``: a copy of ``t``."""
    if t.device.type == 'cuda':
        host = torch.empty(t.shape, dtype=torch.float32, pin_memory=True)
        host.copy_(t, non_blocking=True)
        done = torch.cuda.Event()
        done.record()
        return host.numpy(), done
    return t.to('cpu', torch.float32, copy=True).numpy(), None


class SyncedArray:
    """One buffer (float32 to the host), allocated lazily and zero-filled like Caffe's."""

    __slots__ = ('shape', 'device', 'unified', '_tensor', '_host', '_head', '_stamp', '_pending',
                 '_handouts', '_derived', '_packed')

    def __init__(self, shape, device):
        self.shape = tuple(shape)
        self._place(device)
        self._head = _NONE
        self._handouts = 0  # host arrays handed out: any of them may have been written
        self._derived = None  # (tensor, stamp, {key: tensor made from it})

    def _place(self, device):
        """Put the buffer on ``device`` (its contents are the caller's business)."""
        self.device = device
        self.unified = device.type == 'cpu' and not DISCRETE_CPU  # host and engine share memory
        self._tensor = self._host = self._pending = self._packed = None
        self._stamp = None  # the tensor's version when the host copy was last equal to it

    @property
    def allocated(self):
        return self._head != _NONE

    def _device_newer(self):
        """Whether the tensor holds values the host copy lacks."""
        return self._head == _DEVICE or (self._head == _SYNCED and not self.unified
                                         and self._tensor._version != self._stamp)

    def tensor(self):
        """The device tensor, for the engine to read or write in place."""
        self._unpack()
        if self._head == _NONE:
            if self.unified:
                self._share(np.zeros(self.shape, np.float32))
            else:
                self._tensor = torch.zeros(self.shape, dtype=torch.float32, device=self.device)
                self._head = _DEVICE
        elif self._head == _HOST:
            self._tensor = _upload(self._host, self.device)
            self._head, self._stamp = _SYNCED, self._tensor._version
        return self._tensor

    def _share(self, host):
        """Unified memory: ``host`` is the buffer, seen by the engine as a tensor."""
        self._host, self._tensor, self._head = host, torch.from_numpy(host), _SYNCED

    def set_tensor(self, t):
        """Replace the contents by ``t`` (same shape; becomes the buffer)."""
        if t.shape != self.shape:
            raise ValueError('tensor of shape %s for a buffer of shape %s'
                             % (tuple(t.shape), self.shape))
        if t.dtype not in (torch.float32, torch.bfloat16):
            t = t.float()
        if t.device != self.device:
            t = t.to(self.device)
        # numpy views channels-last tensors with strides; anything else is compacted
        if not (t.is_contiguous() or t.is_contiguous(memory_format=torch.channels_last)):
            t = t.clone(memory_format=torch.preserve_format)  # a slice of channels-last stays so
        self._derived = self._pending = self._host = self._packed = None
        # unified float32: the host array is a view of the tensor, made when first read
        self._head = _SYNCED if self.unified and t.dtype == torch.float32 else _DEVICE
        self._tensor = t

    def set_packed(self, packed):
        """Replace the contents by a packed map (repeats.Packed of this shape), expanded
        only when the full tensor or a host array is asked for."""
        self._derived = self._pending = self._host = self._tensor = None
        self._packed, self._head = packed, _DEVICE

    def packed(self):
        """The contents as a repeats.Packed map while they are held so, else None."""
        return self._packed

    def _unpack(self):
        if self._packed is not None:
            self.set_tensor(repeats.expand(self._packed))

    def clear(self):
        """Zero the contents. While no host array is out, the buffer is only dropped: the
        next use allocates zeros, or ``accumulate`` adopts its first addend (no fill, no add)."""
        if self._handouts or self._head == _NONE:
            self.tensor().zero_()
        else:
            self._place(self.device)
            self._head, self._derived = _NONE, None

    def accumulate(self, t):
        """Add ``t``, a tensor of this shape that the caller hands over (no one else holds it)."""
        if self._head == _NONE and t.dtype == torch.float32 and t.shape == self.shape:
            self.set_tensor(t)
        else:
            self.tensor().add_(t)

    def start_download(self):
        """Begin copying the tensor to the host if it is newer; ``array`` then waits only
        for this copy, not for everything queued on the device after it."""
        self._unpack()
        if self._device_newer():
            if self.unified:  # a bf16 tensor: from now on one float32 buffer again
                self.set_tensor(self._tensor.float())
            else:
                self._host, self._pending = _download(self._tensor)
                self._head, self._stamp = _SYNCED, self._tensor._version

    def read(self):
        """The host array with the current values, read-only; the head does not move, so
        the engine's copy stays valid (Caffe's cpu_data)."""
        if self._head == _NONE:
            if self.unified:
                self._share(np.zeros(self.shape, np.float32))
            else:
                self._host, self._head = np.zeros(self.shape, np.float32), _HOST
        self.start_download()
        if self._pending is not None:
            self._pending.synchronize()
            self._pending = None
        if self._host is None:
            self._host = self._tensor.numpy()
        view = self._host.view()
        view.flags.writeable = False
        return view

    def array(self):
        """The host numpy array; the caller may write to it (Caffe's mutable_cpu_data)."""
        self.read()
        self._handouts += 1
        if not self.unified:
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
        self._unpack()
        if self._head == _DEVICE and self._tensor.dtype != torch.float32:
            self.set_tensor(self._tensor.float())

    def to(self, device):
        """Move the buffer to ``device`` keeping its contents."""
        if device == self.device:
            return
        host = self.array() if self.allocated else None
        self._place(device)
        if host is None:
            self._head = _NONE
        elif self.unified:
            self._share(np.ascontiguousarray(host))
        else:
            self._host, self._head = host, _HOST

    def reshaped(self, shape):
        """A SyncedArray of ``shape``: a view of this one when counts agree."""
        out = SyncedArray(shape, self.device)
        self._unpack()
        if self.allocated and math.prod(shape) == math.prod(self.shape):
            if self._head == _HOST:
                out._host, out._head = self._host.reshape(out.shape), _HOST
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
        return math.prod(self.shape)

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
        if tuple(shape) == self.shape:
            return  # every pass reshapes every top: the common case stays cheap
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

    def packed(self):
        """Data as a repeats.Packed map while it is held so, else None."""
        return self._data.packed()

    def set_packed(self, packed):
        """Replace data by a repeats.Packed map of this blob's shape."""
        self._data.set_packed(packed)

    @property
    def tdiff(self):
        """Diff as a device tensor."""
        return self._diff.tensor()

    @tdiff.setter
    def tdiff(self, t):
        self._diff.set_tensor(t)

    def clear_diff(self):
        self._diff.clear()

    def add_diff(self, t):
        """Accumulate the parameter gradient ``t`` (fresh, owned by no one else) into diff."""
        self._diff.accumulate(t)

    def read_data(self):
        """Data as a read-only host array; unlike ``data``, the device copy stays valid."""
        return self._data.read()

    def read_diff(self):
        return self._diff.read()

    def start_download(self):
        """Begin copying data to the host (see SyncedArray.start_download)."""
        self._data.start_download()

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
