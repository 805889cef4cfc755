"""The original FCN module of SIFTFlowSegDataLayer (prototxts name module "siftflow_layers"): fcn.layers.

``import siftflow_layers`` gives the module fcn.layers itself, so the original authors' prototxts
and our own share one copy of the data layers.
"""
import sys

import fcn.layers

sys.modules[__name__] = fcn.layers
