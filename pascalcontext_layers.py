"""The original FCN module of PASCALContextSegDataLayer (prototxts name module "pascalcontext_layers"): fcn.layers.

``import pascalcontext_layers`` gives the module fcn.layers itself, so the original authors' prototxts
and our own share one copy of the data layers.
"""
import sys

import fcn.layers

sys.modules[__name__] = fcn.layers
