"""``fcn run SCRIPT [ARGS...]``: run a pycaffe script, such as the original FCN authors'
solve.py, with ``import caffe`` meaning this project's backend.

How ``import caffe`` comes to mean torchcaffe: only inside the process ``fcn run``
is, and only for as long as it runs. Nothing is installed (no ``caffe`` package, no
.pth file, no import hook a later Python would load), so a real pycaffe on the
machine stays what a plain ``python`` imports as ``caffe``; running a script under
``fcn run`` is the opt-in.

- ``--backend torch`` (the default, or $FCN_BACKEND): an import finder placed
  first on ``sys.meta_path`` answers ``caffe`` and every ``caffe.X`` with
  torchcaffe and ``torchcaffe.X``, the very same module objects
  (``from caffe.proto import caffe_pb2``, ``from caffe import layers as L,
  params as P``, ``caffe.coord_map``); submodules load when first imported, as
  torchcaffe's do. A real pycaffe that this Python could import is then not
  used, and a note on stderr says so.
- ``--backend caffe``: the real pycaffe from ``fcn.backend.load('caffe')`` (the
  build of scripts/build_pycaffe.sh, else one on sys.path); nothing is aliased.

The script runs as ``__main__`` (runpy) with ``sys.argv`` = [SCRIPT, ARGS...]
(SCRIPT made absolute), its directory first on ``sys.path`` (as ``python
SCRIPT`` has it) and this checkout's root next, so ``import surgery, score``
and the data-layer modules that prototxts name (``layers``, ``voc_layers``,
``nyud_layers``, ``siftflow_layers``, ``pascalcontext_layers``) are this
project's. The exit status is the script's.

Data: the original prototxts give dataset paths relative to the experiment
directory the script runs in (``'sbdd_dir': '../data/sbdd/dataset'``); ours
resolve relative paths against the data root ($FCN_DATA_ROOT, default this
checkout's data/). From a data root R, '../data/X' is R/../data/X, which is
data/X of the original layout whenever R is that layout's data/ directory or an
experiment directory beside it. So in this checkout nothing needs setting, and
for an original checkout elsewhere: ``FCN_DATA_ROOT=<checkout>/data``.
"""
import argparse
import importlib
import importlib.util
import os
import runpy
import sys

from fcn import REPO, backend


class Alias:
    """An import finder and loader: ``alias`` and ``alias.X`` are ``target`` and ``target.X``."""

    def __init__(self, alias, target):
        self.alias, self.target = alias, target
        self.specs = {}  # the real module's own spec, put back after the import system's bookkeeping

    def real(self, name):
        return self.target + name[len(self.alias):]

    def find_spec(self, name, path=None, target=None):
        if name != self.alias and not name.startswith(self.alias + '.'):
            return None
        if importlib.util.find_spec(self.real(name)) is None:
            return None  # "No module named 'caffe.X'", as for any missing module
        return importlib.util.spec_from_loader(name, self)

    def create_module(self, spec):
        module = importlib.import_module(self.real(spec.name))
        self.specs[spec.name] = module.__spec__
        return module

    def exec_module(self, module):
        # Already run under its own name; the import system set __spec__ to the alias's.
        module.__spec__ = self.specs.pop(module.__spec__.name)


def other_caffe():
    """Where a ``caffe`` that is not torchcaffe would be imported from, or None."""
    try:
        spec = importlib.util.find_spec('caffe')
    except (ImportError, ValueError):
        return None
    return spec and (spec.origin or 'a namespace package')


def main(argv=None):
    p = argparse.ArgumentParser(
        prog='fcn run', description='Run a pycaffe script (e.g. the original solve.py) as __main__ '
                                    'with "import caffe" meaning this project\'s backend, in this '
                                    'process only.')
    backend.add_argument(p)
    p.add_argument('script', help='the Python script, e.g. solve.py')
    p.add_argument('args', nargs=argparse.REMAINDER, help="the script's arguments")
    args = p.parse_args(argv)
    if not os.path.isfile(args.script):
        p.error('no script %s' % args.script)
    if not getattr(sys.flags, 'safe_path', False) and sys.path:  # 3.11's -P adds no entry
        sys.path.pop(0)  # the launcher's entry (python -m: the working directory), not the script's
    try:
        caffe = backend.load(args.backend)
    except ImportError as e:
        sys.exit('fcn run: %s' % e)
    if caffe.__name__ != 'caffe':
        other = other_caffe()
        if other:
            print('fcn run: "import caffe" means %s (backend torch) in this run, not the pycaffe at %s '
                  '(--backend caffe uses that)' % (caffe.__name__, other), file=sys.stderr)
        sys.meta_path.insert(0, Alias('caffe', caffe.__name__))
    script = os.path.abspath(args.script)  # __file__ is absolute, as python's since 3.9
    sys.path[0:0] = [os.path.dirname(script), REPO]
    sys.argv = [script] + args.args  # run_path sets argv[0] to the path it runs
    runpy.run_path(script, run_name='__main__')  # the script's SystemExit is the exit status
    return 0
