"""The one place that chooses the Caffe implementation.

``torch`` (default): torchcaffe, our PyTorch engine. ``caffe``: BVLC pycaffe.
Chosen by ``FCN_BACKEND`` or a script's ``--backend`` flag (which calls
``load(name)`` before anything else imports Caffe). The choice is written back
to the environment so modules imported later, such as the Python data layers
that Caffe itself imports, and child processes agree with it.
"""
import importlib
import os
import sys

BACKENDS = {'torch': 'torchcaffe', 'caffe': 'caffe'}
DEFAULT = 'torch'
_loaded = {}


def pycaffe_prefix():
    """Where scripts/build_pycaffe.sh installs real pycaffe."""
    cache = os.environ.get('XDG_CACHE_HOME') or os.path.join(os.path.expanduser('~'), '.cache')
    return os.environ.get('FCN_PYCAFFE_PREFIX') or os.path.join(cache, 'fcn', 'pycaffe')


def _import_pycaffe():
    python_dir = os.path.join(pycaffe_prefix(), 'python')
    if os.path.isdir(python_dir) and python_dir not in sys.path:
        sys.path.insert(0, python_dir)
    os.environ.setdefault('GLOG_minloglevel', '2')
    try:
        return importlib.import_module('caffe')
    except ImportError as e:
        raise ImportError('FCN_BACKEND=caffe needs BVLC pycaffe: build it with scripts/build_pycaffe.sh '
                          '(looked in %s and on sys.path): %s' % (python_dir, e)) from e


def load(name=None):
    """The Caffe module of backend ``name`` (default: $FCN_BACKEND or torch)."""
    name = name or os.environ.get('FCN_BACKEND') or DEFAULT
    if name not in BACKENDS:
        raise ValueError("unknown backend '%s': choose one of %s" % (name, ', '.join(sorted(BACKENDS))))
    others = [n for n in _loaded if n != name]
    if others:
        raise RuntimeError("backend '%s' requested after '%s' was loaded in this process"
                           % (name, others[0]))
    if name not in _loaded:
        _loaded[name] = _import_pycaffe() if name == 'caffe' else importlib.import_module('torchcaffe')
    os.environ['FCN_BACKEND'] = name
    return _loaded[name]


def shard():
    """(rank, world size) of a data-parallel run (torchrun's environment), else (0, 1)."""
    return int(os.environ.get('RANK', 0)), int(os.environ.get('WORLD_SIZE', 1))


def add_argument(parser):
    """Add the --backend flag to an argparse parser."""
    parser.add_argument('--backend', choices=sorted(BACKENDS), default=None,
                        help='torch (our engine, default) or caffe (BVLC pycaffe); '
                             'default: $FCN_BACKEND or torch')
