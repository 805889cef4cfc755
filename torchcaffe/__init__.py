"""torchcaffe: pycaffe's API on a PyTorch engine.

``import torchcaffe as caffe`` is meant as a drop-in for BVLC pycaffe. The schema and
formats import without torch; the engine (Net, solvers, modes, Layer) loads on first use.
"""
import importlib

from .proto import caffe_pb2  # noqa: F401
from .net_spec import NetSpec, layers, params, to_proto  # noqa: F401
from . import coord_map  # noqa: F401
from .runtime import (NCCL, Timer, has_nccl, init_log, log, set_multiprocess,  # noqa: F401
                      set_solver_count, set_solver_rank, solver_count, solver_rank)

__version__ = '1.0.0'  # the Caffe (CAFFE_VERSION) whose pycaffe API this is

# plain ints in Caffe too: scripts read them without needing the engine
TRAIN, TEST = caffe_pb2.TRAIN, caffe_pb2.TEST

# the engine's exports, by the module that defines them
_ENGINE = {
    '.engine.device': ('set_mode_cpu', 'set_mode_gpu', 'set_device', 'set_random_seed',
                       'set_precision', 'set_channels_last', 'set_strict', 'set_cudnn_benchmark',
                       'set_reuse_host_memory', 'set_skip_repeats'),
    '.engine.layers': ('layer_type_list',),
    '.engine.net': ('Net',),
    '.engine.python_layer': ('Layer',),
    '.engine.sgd_solvers': ('SGDSolver', 'NesterovSolver', 'AdaGradSolver', 'RMSPropSolver',
                            'AdaDeltaSolver', 'AdamSolver', 'get_solver'),
    '.classifier': ('Classifier',),
    '.detector': ('Detector',),
}
_HOME = {name: module for module, names in _ENGINE.items() for name in names}
_SUBMODULES = ('draw', 'engine', 'errors', 'formats', 'io', 'proto')
# a star import gets pycaffe's API, the engine's names too (that loads it)
__all__ = ['caffe_pb2', 'NetSpec', 'layers', 'params', 'to_proto', 'coord_map', 'TRAIN', 'TEST',
           'NCCL', 'Timer', 'has_nccl', 'init_log', 'log', 'set_multiprocess', 'set_solver_count',
           'set_solver_rank', 'solver_count', 'solver_rank', *_HOME]


def __getattr__(name):
    """Load the engine (torch) when one of its exports is first asked for."""
    if name in _HOME:
        value = getattr(importlib.import_module(_HOME[name], __name__), name)
        globals()[name] = value  # later lookups skip this function
        return value
    if name in _SUBMODULES:  # `import torchcaffe` once made these attributes too
        return importlib.import_module('.' + name, __name__)
    raise AttributeError('module %r has no attribute %r' % (__name__, name))


def __dir__():
    """The module's names, the engine's not yet loaded ones included."""
    return sorted(set(globals()) | set(_HOME) | set(_SUBMODULES))
