"""BVLC Caffe's own source tree (python tests, models, examples), as
scripts/bvlc_python_tests.py finds it: the Debian source tarball that
scripts/build_pycaffe.sh downloads beside its build."""
import os
import sys

sys.path.insert(0, os.path.join(os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__)))), 'scripts'))

from bvlc_python_tests import cached_source as tarball, unpack  # noqa: E402,F401
