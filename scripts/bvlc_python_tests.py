#!/usr/bin/env python3
"""Run BVLC Caffe's own Python test suite (python/caffe/test) with ``import caffe``
meaning torchcaffe, and report how many tests pass.

    scripts/bvlc_python_tests.py [--backend torch|caffe] [--source CAFFE_TREE] [--min N] [--json OUT]

``--backend caffe`` runs it on the real pycaffe of scripts/build_pycaffe.sh instead.
The suite is read from where it lives: a Caffe source tree given with --source,
else the Debian source package of BVLC Caffe that scripts/build_pycaffe.sh
downloaded into its cache (the tests, and the models/ and examples/ prototxts
that test_draw walks, are unpacked into a temporary directory). Exit status 1
when fewer than --min tests pass, 2 when no source is found.
"""
import argparse
import glob
import json
import os
import sys
import tarfile
import tempfile
import unittest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from fcn import backend  # noqa: E402
from fcn.launch import Alias  # noqa: E402

SUITE = 'python/caffe/test'
NEEDED = (SUITE, 'models', 'examples')  # test_draw draws every net prototxt of these


def cached_source():
    """The downloaded Caffe source tarball of build_pycaffe.sh, or None."""
    found = glob.glob(os.path.join(backend.pycaffe_prefix(), 'download', 'caffe_*.orig.tar.gz'))
    return sorted(found)[-1] if found else None


def unpack(tarball, into):
    """Unpack the parts of the Caffe tree the suite reads; return the tree's root."""
    with tarfile.open(tarball) as tar:
        members = [m for m in tar.getmembers()
                   if any(m.name == n or m.name.startswith(n + '/') for n in NEEDED)]
        tar.extractall(into, members, filter='data')
    return into


class Outcomes(unittest.TextTestResult):
    """A text result that also keeps every test's outcome by id."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outcomes = {}

    def addSuccess(self, test):
        super().addSuccess(test)
        self.outcomes[test.id()] = 'passed'

    def addFailure(self, test, err):
        super().addFailure(test, err)
        self.outcomes[test.id()] = 'failed'

    def addError(self, test, err):
        super().addError(test, err)
        self.outcomes[test.id()] = 'error'

    def addSkip(self, test, reason):
        super().addSkip(test, reason)
        self.outcomes[test.id()] = 'skipped'


def run(tree, backend_name):
    """Run the suite of Caffe tree ``tree`` on a backend; {test id: outcome}."""
    caffe = backend.load(backend_name)
    if caffe.__name__ != 'caffe':
        sys.meta_path.insert(0, Alias('caffe', caffe.__name__))
    tests = os.path.join(tree, SUITE)
    os.chdir(tests)  # the suite's modules import each other and name them in prototxts
    suite = unittest.defaultTestLoader.discover(tests, top_level_dir=tests)
    result = unittest.TextTestRunner(stream=sys.stdout, verbosity=2, resultclass=Outcomes).run(suite)
    return result.outcomes


def main(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split('\n\n')[0])
    backend.add_argument(p)
    p.add_argument('--source', help='a BVLC Caffe source tree (default: the cached Debian source package)')
    p.add_argument('--min', type=int, default=0, help='fail when fewer tests pass')
    p.add_argument('--json', help='write {"passed": n, "total": n, "outcomes": {...}} here')
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.source:
            tree = args.source
        elif cached_source():
            tree = unpack(cached_source(), tmp)
        else:
            print('no Caffe source: run scripts/build_pycaffe.sh (it downloads the source '
                  'package) or pass --source', file=sys.stderr)
            return 2
        if not os.path.isdir(os.path.join(tree, SUITE)):
            print('%s has no %s' % (tree, SUITE), file=sys.stderr)
            return 2
        outcomes = run(tree, args.backend)
    passed = sum(o == 'passed' for o in outcomes.values())
    print('BVLC pycaffe tests on %s: %d of %d passed'
          % (os.environ['FCN_BACKEND'], passed, len(outcomes)))
    if args.json:
        with open(args.json, 'w') as f:
            json.dump({'passed': passed, 'total': len(outcomes), 'outcomes': outcomes}, f, indent=1)
    return 0 if passed >= args.min else 1


if __name__ == '__main__':
    sys.exit(main())
