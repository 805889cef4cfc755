"""The GPU memory protocol, run on the CPU as a discrete device (blob.DISCRETE_CPU):
host and device copies move as Caffe's SyncedMemory moves them, and a training
iteration reads nothing back from the device but its loss, after its backward pass
is queued. (The golden layer, net and solver cases run in this mode too.)"""
import numpy as np
import pytest
import torch

import torchcaffe as caffe
from torchcaffe.engine import blob as blob_module
from torchcaffe.engine.blob import Blob
from torchcaffe.engine.net import Net
import tinynet

# Tensor methods that hand a device value to Python: each one waits for the device
HOST_READS = ('item', 'tolist', '__bool__', '__float__', '__int__', '__index__')


@pytest.fixture
def discrete(monkeypatch):
    monkeypatch.setattr(blob_module, 'DISCRETE_CPU', True)


@pytest.fixture
def downloads(monkeypatch):
    """The device-to-host copies made, as a list of their shapes."""
    made = []
    real = blob_module._download

    def counted(t):
        made.append(tuple(t.shape))
        return real(t)
    monkeypatch.setattr(blob_module, '_download', counted)
    return made


@pytest.fixture
def host_reads(monkeypatch):
    """Calls of the Tensor methods that read a value to Python, by name."""
    made = []
    for name in HOST_READS:
        real = getattr(torch.Tensor, name)

        def counted(self, *args, _name=name, _real=real, **kwargs):
            made.append(_name)
            return _real(self, *args, **kwargs)
        monkeypatch.setattr(torch.Tensor, name, counted)
    return made


def test_host_writes_reach_the_device_at_its_next_read(discrete, downloads):
    b = Blob((2, 3))
    b.data[...] = np.arange(6).reshape(2, 3)
    t = b.tdata
    assert not np.shares_memory(t.numpy(), b._data._host)  # two copies
    np.testing.assert_array_equal(t.numpy(), np.arange(6).reshape(2, 3))
    assert b.tdata is t and downloads == []  # in sync: neither side is copied again


def test_host_reads_download_only_what_the_device_changed(discrete, downloads):
    b = Blob((4,))
    b.data[...] = 1
    b.tdata  # uploaded; both copies equal
    assert b.data.tolist() == [1, 1, 1, 1] and downloads == []
    b.tdata.mul_(3)  # the engine writes in place
    assert b.data.tolist() == [3, 3, 3, 3] and downloads == [(4,)]
    b.tdata = torch.full((4,), 5.0)  # the engine replaces the tensor
    assert b.data.tolist() == [5, 5, 5, 5] and len(downloads) == 2


def test_read_only_access_keeps_the_device_copy(discrete, downloads):
    b = Blob((3,))
    b.tdata = torch.tensor([1.0, 2.0, 3.0])
    seen = b.read_data()
    assert seen.tolist() == [1, 2, 3] and not seen.flags.writeable
    t = b.tdata
    assert b.tdata is t and b.read_data().tolist() == [1, 2, 3] and downloads == [(3,)]
    b.data[...] = 7  # a writable host array moves the head: the next device read uploads
    assert b.tdata is not t and b.tdata.tolist() == [7, 7, 7]


def test_a_download_started_early_sees_later_device_writes(discrete):
    b = Blob((2,))
    b.tdata = torch.tensor([1.0, 2.0])
    b.start_download()
    b.tdata.add_(10)  # after the copy began: the host read must not return the stale copy
    assert b.data.tolist() == [11, 12]


def test_fresh_and_reshaped_blobs_read_zeros(discrete):
    b = Blob((2, 2))
    assert b.data.tolist() == [[0, 0], [0, 0]] and b.data.flags.writeable
    b.reshape(3, 2)
    b.data[...] = 1
    assert b.tdata.shape == (3, 2) and float(b.tdata.sum()) == 6
    assert Blob((2,)).tdata.tolist() == [0, 0] and Blob((2,)).diff.tolist() == [0, 0]


@pytest.fixture
def tiny_solver(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    return caffe.get_solver(tinynet.write(tmp_path, display=0))


def test_training_iterations_read_back_only_the_loss(discrete, tiny_solver, downloads, host_reads,
                                                     monkeypatch):
    """Per iteration one device-to-host copy (the loss top), read after the backward pass
    is queued; the data layer's writes, the label check and a driver reading the loss
    blob (as train.py does) copy nothing back."""
    solver = tiny_solver
    solver.step(1)  # first use: parameters and loss weights reach the device
    order = []
    backward, weighted_loss = Net._backward, Net._weighted_loss
    monkeypatch.setattr(Net, '_backward', lambda *a: order.append('backward') or backward(*a))
    monkeypatch.setattr(Net, '_weighted_loss',
                        staticmethod(lambda b: order.append('loss read') or weighted_loss(b)))
    del downloads[:], host_reads[:]
    losses = []
    for _ in range(4):
        solver.step(1)
        losses.append(float(solver.net.blobs['loss'].data))
    assert downloads == [()] * 4 and host_reads == []
    assert order == ['backward', 'loss read'] * 4
    assert all(np.isfinite(losses)) and len(set(losses)) == 4  # a new batch each time


def test_training_matches_unified_memory(tiny_solver, monkeypatch):
    """Discrete memory changes no number: four iterations give the same weights."""
    unified = tiny_solver
    unified.step(4)
    monkeypatch.setattr(blob_module, 'DISCRETE_CPU', True)
    discrete = caffe.get_solver('solver.prototxt')
    assert discrete.net.blobs['data']._data.unified is False
    discrete.step(4)
    for a, b in zip(unified.net.learnable_params, discrete.net.learnable_params):
        np.testing.assert_array_equal(a.data, b.data)
