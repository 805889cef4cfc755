"""Caffe's global mode (CPU or GPU), device id and random seed, mapped onto torch,
and the engine's speed settings.

Like Caffe, the mode is process-wide; nets follow it at their next forward.
The default is the fastest float32 execution that passes the whole parity suite
against real Caffe: on CPU, convolutions run channels_last with their weights kept
in that layout (without AVX-512, the wide 3x3 ones by Winograd's algorithm), and
freed host memory is kept for reuse (``set_reuse_host_memory``);
on CUDA, Caffe's NCHW order. ``set_strict()``, or TORCHCAFFE_STRICT=1 in the
environment, restores Caffe's own computation order everywhere. Faster, less exact
arithmetic is asked for explicitly: ``set_precision`` ('tf32' or 'bf16') and
``set_cudnn_benchmark``.
"""
import ctypes
import functools
import os
import sys

import torch

# channels_last None: the device's default (on for CPU, where it measured fastest)
_state = {'gpu': False, 'device_id': 0, 'precision': 'fp32', 'channels_last': None,
          'reuse': False, 'skip_repeats': True}
PRECISIONS = ('fp32', 'tf32', 'bf16')


def set_mode_cpu():
    _state['gpu'] = False


def set_mode_gpu():
    if not torch.cuda.is_available():
        raise RuntimeError('set_mode_gpu: no CUDA device is available to PyTorch')
    _state['gpu'] = True


def set_device(device_id):
    _state['device_id'] = int(device_id)


def current():
    """The torch.device the engine computes on now."""
    if _state['gpu']:
        return torch.device('cuda', _state['device_id'])
    return torch.device('cpu')


def set_random_seed(seed):
    """Seed the RNG behind fillers and Dropout (CPU and every GPU)."""
    torch.manual_seed(int(seed))


def set_precision(precision):
    """'fp32' (default: float32, no TF32), 'tf32' (CUDA tensor cores for convolutions and
    matrix products) or 'bf16' (convolutions and inner products compute in bfloat16,
    and activations stay bfloat16 between layers that take it; weights, their diffs,
    the solver and what Python sees stay float32)."""
    if precision not in PRECISIONS:
        raise ValueError("precision must be one of %s, not %r" % (', '.join(PRECISIONS), precision))
    _state['precision'] = precision
    tf32 = precision == 'tf32'
    torch.backends.cuda.matmul.allow_tf32 = tf32
    torch.backends.cudnn.allow_tf32 = tf32


def set_channels_last(enabled=True):
    """Run 4-d convolutions in NHWC memory order (True), Caffe's NCHW (False), or the
    device's default (None: channels_last on CPU, NCHW on CUDA)."""
    _state['channels_last'] = None if enabled is None else bool(enabled)


def set_skip_repeats(enabled=True):
    """Let convolutions and MAX pooling compute the windows that lie inside runs of
    repeated rows and columns (an FCN's padded borders) once per run (repeats.py)."""
    _state['skip_repeats'] = bool(enabled)


def skip_repeats():
    return _state['skip_repeats']


def set_strict(enabled=True):
    """Compute as Caffe does, in its order and memory layout: float32, NCHW, every
    window of the full maps, and host memory handed back to the system (False returns
    to the defaults)."""
    set_precision('fp32')
    set_channels_last(False if enabled else None)
    set_skip_repeats(not enabled)
    if _glibc():
        set_reuse_host_memory(not enabled)


def set_cudnn_benchmark(enabled=True):
    """Let cuDNN time its algorithms for each new input shape and keep the fastest."""
    torch.backends.cudnn.benchmark = bool(enabled)


# glibc's mallopt parameters (malloc.h) and their defaults
_M_TRIM_THRESHOLD, _M_MMAP_MAX = -1, -4
_MALLOPT_DEFAULTS = {_M_TRIM_THRESHOLD: 128 * 1024, _M_MMAP_MAX: 65536}
_MALLOPT_REUSE = {_M_TRIM_THRESHOLD: 2 ** 31 - 1, _M_MMAP_MAX: 0}


def set_reuse_host_memory(enabled=True):
    """Keep freed host memory in the process for the next allocation (Linux, glibc).

    The engine allocates each layer's outputs anew in every pass; glibc's malloc maps
    large blocks fresh from the kernel and unmaps them on free, so every pass pays a
    page fault per 4 KiB written for the first time. Enabled, large blocks come from
    the heap and the heap is not trimmed: on CPU a 500 x 500 FCN-8s forward and
    training iteration run 10-25% faster, and resident memory stays near its peak
    (more with many different input shapes). Disabling returns what is free to the
    system and restores glibc's defaults.
    """
    libc = _glibc()
    if libc is None:
        raise RuntimeError('set_reuse_host_memory tunes glibc\'s malloc: it needs Linux with '
                           'glibc (this is %s)' % sys.platform)
    for param, value in (_MALLOPT_REUSE if enabled else _MALLOPT_DEFAULTS).items():
        if libc.mallopt(param, value) != 1:
            raise RuntimeError('set_reuse_host_memory: glibc refused mallopt(%d, %d)' % (param, value))
    if not enabled:
        libc.malloc_trim(0)
    _state['reuse'] = bool(enabled)


def _glibc():
    """The C library when it is glibc (whose malloc set_reuse_host_memory tunes), else None."""
    libc = ctypes.CDLL(None) if sys.platform.startswith('linux') else None
    return libc if libc is not None and hasattr(libc, 'gnu_get_libc_version') else None


def compute_dtype():
    """The dtype heavy layers compute in."""
    return torch.bfloat16 if _state['precision'] == 'bf16' else torch.float32


def describe():
    """The settings in effect, in words: 'fp32, channels_last, skipping repeated windows, ...'."""
    fast = ['channels_last'] * channels_last() + ['skipping repeated windows'] * skip_repeats() + \
        ['reusing host memory'] * _state['reuse']
    return ', '.join([_state['precision']] + (fast or ["Caffe's order (strict)"]))


def channels_last():
    """Whether 4-d convolutions run channels_last now."""
    if _state['channels_last'] is None:
        return not _state['gpu']
    return _state['channels_last']


@functools.cache
def fast_cpu_gemm():
    """Whether torch's CPU matrix product (MKL's SGEMM) outruns oneDNN's convolutions on
    an FCN's fc6/fc7 forward: on Intel CPUs. MKL runs slower code paths on others (an AMD
    EPYC: 0.33 s for fc6 where oneDNN takes 0.25 s, bench/README)."""
    try:
        with open('/proc/cpuinfo') as f:
            return 'GenuineIntel' in f.read(4096)
    except OSError:
        return True  # no cpuinfo (not Linux): the rule measured first


@functools.cache
def avx512():
    """Whether torch's CPU kernels run with AVX-512 here (oneDNN's NHWC weight gradient
    and its 1x1 convolution over few pixels are fast with it and slow with AVX2 alone)."""
    return torch.backends.cpu.get_cpu_capability().startswith('AVX512')


@functools.cache
def onednn_bf16():
    """Whether oneDNN's bfloat16 kernels run on this CPU (AVX-512 or AVX-NE-CONVERT);
    elsewhere torch's own bfloat16 convolution takes their place."""
    return torch.ops.mkldnn._is_mkldnn_bf16_supported()


set_strict(os.environ.get('TORCHCAFFE_STRICT', '0') not in ('', '0'))
