"""Optional dependencies (the ``data`` extra: h5py, lmdb, plyvel)."""
import importlib


def require(module, what, layer=None):
    """Import ``module``, or raise naming the extra that provides it: the error of
    ``layer`` (a NetError naming it) when one needs it, else an ImportError."""
    try:
        return importlib.import_module(module)
    except ImportError:
        message = "%s needs the '%s' package: pip install 'fcn[data]'" % (what, module)
        raise (layer.error(message) if layer else ImportError(message)) from None
