"""torchcaffe: pycaffe's API on a PyTorch engine.

``import torchcaffe as caffe`` is meant as a drop-in for BVLC pycaffe.
"""
from .proto import caffe_pb2  # noqa: F401
from .engine.device import (set_mode_cpu, set_mode_gpu, set_device, set_random_seed,  # noqa: F401
                            set_precision, set_channels_last, set_cudnn_benchmark,
                            set_reuse_host_memory)
from .engine.net import Net, TRAIN, TEST  # noqa: F401
from .engine.python_layer import Layer  # noqa: F401
from .net_spec import NetSpec, layers, params, to_proto  # noqa: F401
from . import coord_map  # noqa: F401
from .engine.sgd_solvers import (SGDSolver, NesterovSolver, AdaGradSolver, RMSPropSolver,  # noqa: F401
                                 AdaDeltaSolver, AdamSolver, get_solver)
