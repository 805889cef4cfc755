"""torch's random generator states beside a snapshot (``<prefix>_iter_N.rngstate``), so
that a resumed run draws the same Dropout masks as a run that never stopped.

Caffe keeps no such file (its resumed runs draw other masks) and its own files stay as
they are. The format is raw bytes, never pickle: a header line, the number of states
(uint32), then each state as its length (uint64) and bytes, all little-endian: the CPU
generator first, then one per CUDA device when CUDA was in use.
"""
import os
import struct

from ..errors import FormatError
from .files import atomic_write, read_bytes

MAGIC = b'torchcaffe rngstate 1\n'


def capture():
    """The generator states now, as byte strings: CPU, then each CUDA device in use."""
    import torch  # here, not above: torchcaffe.formats imports without torch
    states = [torch.get_rng_state()]
    if torch.cuda.is_initialized():  # never used otherwise: its state is still the seed's
        states += torch.cuda.get_rng_state_all()
    return [s.numpy().tobytes() for s in states]


def write(path, states):
    """Write the byte strings ``states`` to ``path``, atomically."""
    pieces = [MAGIC, struct.pack('<I', len(states))]
    for state in states:
        pieces += [struct.pack('<Q', len(state)), state]
    atomic_write(path, b''.join(pieces))


def read(path):
    """The states in the file at ``path``; FormatError naming it when it is not one."""
    import torch
    path = os.fspath(path)
    raw = read_bytes(path)
    if not raw.startswith(MAGIC):
        raise FormatError('%s: not a torchcaffe rngstate file (it does not start with %r)'
                          % (path, MAGIC.decode()))
    states, at = [], len(MAGIC)
    try:
        (count,), at = struct.unpack_from('<I', raw, at), at + 4
        for _ in range(count):
            (size,), at = struct.unpack_from('<Q', raw, at), at + 8
            if at + size > len(raw):
                raise struct.error('short')
            states.append(raw[at:at + size])
            at += size
    except struct.error:
        raise FormatError('%s: truncated rngstate file' % path) from None
    cpu_size = torch.get_rng_state().numel()
    if at != len(raw) or not states or len(states[0]) != cpu_size:
        raise FormatError('%s: not a torchcaffe rngstate file of this torch (%d states, CPU state '
                          '%d bytes, expected %d, %d bytes left over)'
                          % (path, len(states), len(states[0]) if states else 0, cpu_size,
                             len(raw) - at))
    return states


def apply(states):
    """Set torch's generators to ``states`` (CUDA ones only where those devices exist)."""
    import torch
    torch.set_rng_state(torch.frombuffer(bytearray(states[0]), dtype=torch.uint8))
    cuda = states[1:]
    if cuda and torch.cuda.is_available():
        for i, state in enumerate(cuda[:torch.cuda.device_count()]):
            torch.cuda.set_rng_state(torch.frombuffer(bytearray(state), dtype=torch.uint8), i)
