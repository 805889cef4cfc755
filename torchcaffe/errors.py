"""Exceptions raised by torchcaffe. Each message names the file, layer or field at fault."""
import numpy as np


class CaffeError(Exception):
    """Base of every torchcaffe error."""


class FormatError(CaffeError, ValueError):
    """A file that is not what it should be: malformed text, a truncated or foreign binary."""


class NetError(CaffeError, ValueError):
    """A net that cannot be built or run: unknown layer type, missing bottom, bad shapes."""


class SolverError(CaffeError, ValueError):
    """A solver that cannot run: bad solver settings, missing net file, diverged loss."""


def first_nonfinite_top(net):
    """Which layer's top holds a non-finite value after the last forward.

    Only pycaffe's API is used, and no torch, so the training driver asks the same of
    real Caffe's nets.
    """
    for layer, tops in net.top_names.items():
        for top in tops:
            if not np.isfinite(net.blobs[top].data).all():
                return "the first non-finite top is '%s' of layer '%s' (%s)" % (
                    top, layer, net.layer_dict[layer].type)
    return 'no top of the last forward is non-finite'
