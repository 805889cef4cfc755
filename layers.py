"""The original FCN name of fcn.layers: the Python data layers that the experiments' prototxts name (module "layers").

``import layers`` gives the module fcn.layers itself, so the original authors' scripts
and our own share one copy of it.
"""
import sys

import fcn.layers

sys.modules[__name__] = fcn.layers
