"""Caffe's global mode (CPU or GPU), device id and random seed, mapped onto torch.

Like Caffe, the mode is process-wide; nets follow it at their next forward.
Strict fp32 is the default: no TF32 unless asked for (see ``set_precision``).
"""
import torch

_state = {'gpu': False, 'device_id': 0}


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


def strict_fp32():
    """Disable reduced-precision matmul/conv paths so results track Caffe's float32."""
    torch.backends.cuda.matmul.allow_tf32 = False
    torch.backends.cudnn.allow_tf32 = False


strict_fp32()
