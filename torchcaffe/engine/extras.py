"""Optional dependencies of some layers (the ``data`` extra: h5py, lmdb, plyvel)."""
import importlib


def require(layer, module, what):
    """Import ``module`` for ``layer``, or raise naming the extra that provides it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        raise layer.error("%s needs the '%s' package: pip install 'fcn[data]'" % (what, module)) from None
