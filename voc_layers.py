"""The original FCN module of VOCSegDataLayer and SBDDSegDataLayer (prototxts name module "voc_layers"): fcn.layers.

``import voc_layers`` gives the module fcn.layers itself, so the original authors' prototxts
and our own share one copy of the data layers.
"""
import sys

import fcn.layers

sys.modules[__name__] = fcn.layers
