"""Python layers: pycaffe's ``Layer`` base class and the engine glue that runs them.

As in Caffe, ``python_param { module layer param_str }`` names a class that is
imported from ``sys.path``, constructed with the LayerParameter, given
``param_str`` and ``phase``, then driven through setup/reshape/forward/backward
with lists of Blobs.
"""
import importlib

from .layer import Layer as EngineLayer, register
from .blob import Blob


class Layer:
    """Base class for Python layers (pycaffe's ``caffe.Layer``)."""

    def __init__(self, param=None):
        self.param_str = ''
        self.phase = 0
        self.blobs = BlobVec()

    @property
    def type(self):
        return 'Python'

    def setup(self, bottom, top):
        pass

    def reshape(self, bottom, top):
        pass

    def forward(self, bottom, top):
        pass

    def backward(self, top, propagate_down, bottom):
        pass


class BlobVec(list):
    """pycaffe's parameter blob list, with ``add_blob`` for Python layers."""

    device = None

    def add_blob(self, *shape):
        self.append(Blob(shape, self.device))


@register('Python')
class PythonLayer(EngineLayer):
    """Runs a user's Python layer object inside the net."""

    def __init__(self, param, phase, device):
        super().__init__(param, phase, device)
        p = param.python_param
        try:
            module = importlib.import_module(p.module)
        except ImportError as e:
            raise self.error("cannot import module '%s' (is it on sys.path?): %s" % (p.module, e)) from e
        cls = getattr(module, p.layer, None)
        if cls is None:
            raise self.error("module '%s' has no layer class '%s'" % (p.module, p.layer))
        self.impl = cls(param)
        if not hasattr(self.impl, 'blobs'):
            self.impl.blobs = BlobVec()
        if isinstance(self.impl.blobs, BlobVec):
            self.impl.blobs.device = device
        self.impl.blobs.extend(self.blobs)  # parameters given in the prototxt
        self.blobs = self.impl.blobs

    def layer_setup(self, bottom, top):
        self.impl.param_str = self.param.python_param.param_str
        self.impl.phase = self.phase
        self.impl.setup(bottom, top)

    def reshape(self, bottom, top):
        self.impl.reshape(bottom, top)

    def forward(self, bottom, top):
        self.impl.forward(bottom, top)

    def backward(self, top, propagate_down, bottom):
        self.impl.backward(top, list(propagate_down), bottom)

