"""Real BVLC pycaffe for live comparisons, as built by scripts/build_pycaffe.sh.

The build lives outside the repository, in backend.pycaffe_prefix()
($FCN_PYCAFFE_PREFIX, else ~/.cache/fcn/pycaffe); ``load()`` imports it from
there and nowhere else, so a test never compares against some other Caffe.
"""
import os
import sys

from fcn import backend


def python_dir():
    """The directory holding the built ``caffe`` package."""
    return os.path.join(backend.pycaffe_prefix(), 'python')


def built():
    return os.path.isfile(os.path.join(python_dir(), 'caffe', '_caffe.so'))


def env():
    """Environment for a child process that imports real pycaffe (and this checkout)."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    paths = [python_dir(), root] + [p for p in [os.environ.get('PYTHONPATH')] if p]
    return dict(os.environ, PYTHONPATH=os.pathsep.join(paths), GLOG_minloglevel='2')


def load():
    """The real ``caffe`` module, or None when it has not been built.

    A build that exists but does not import is an error, not a skip.
    """
    if not built():
        return None
    # glog reads this when Caffe's library loads: keep Net construction quiet.
    os.environ.setdefault('GLOG_minloglevel', '2')
    path = python_dir()
    if path not in sys.path:
        sys.path.insert(0, path)
    import caffe
    where = os.path.dirname(os.path.abspath(caffe.__file__))
    if where != os.path.join(path, 'caffe'):
        raise ImportError('"caffe" was imported from %s, not from the build in %s' % (where, path))
    return caffe
