"""The original FCN module of NYUDSegDataLayer (prototxts name module "nyud_layers"): fcn.layers.

``import nyud_layers`` gives the module fcn.layers itself, so the original authors' prototxts
and our own share one copy of the data layers.
"""
import sys

import fcn.layers

sys.modules[__name__] = fcn.layers
