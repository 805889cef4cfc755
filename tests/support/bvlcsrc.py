"""BVLC Caffe's own source tree (python tests, models, examples), unpacked from the
Debian source tarball that scripts/build_pycaffe.sh downloads beside its build."""
import glob
import os
import subprocess
import sys
import tarfile

from fcn import backend

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# `caffe` as torchcaffe, for running pycaffe's own test files against it
AS_CAFFE = '''
import sys, torchcaffe, torchcaffe.proto, torchcaffe.proto.caffe_pb2, torchcaffe.io
import torchcaffe.draw
for name in ('', '.proto', '.proto.caffe_pb2', '.io', '.draw'):
    sys.modules['caffe' + name] = sys.modules['torchcaffe' + name]
'''


def tarball():
    """The BVLC source tarball, or None where it has not been downloaded."""
    found = glob.glob(os.path.join(backend.pycaffe_prefix(), 'download', 'caffe_*.orig.tar.*'))
    return found[0] if found else None


def unpack(dest, prefixes):
    """Unpack the tarball's files under ``prefixes`` into ``dest``; returns ``dest``."""
    with tarfile.open(tarball()) as tar:
        members = [m for m in tar.getmembers() if m.name.lstrip('./').startswith(prefixes)]
        tar.extractall(dest, members=members, filter='data')
    return dest


def run_unittest(test_file):
    """Run one of pycaffe's unittest files with `caffe` being torchcaffe; the result."""
    code = AS_CAFFE + '''
import runpy, unittest
tests = runpy.run_path(sys.argv[1], run_name='bvlc_test')
suite = unittest.TestSuite(unittest.defaultTestLoader.loadTestsFromTestCase(case)
                           for case in tests.values()
                           if isinstance(case, type) and issubclass(case, unittest.TestCase))
result = unittest.TextTestRunner(verbosity=2).run(suite)
sys.exit(not result.wasSuccessful() or not result.testsRun)
'''
    return subprocess.run([sys.executable, '-c', code, test_file], cwd=os.path.dirname(test_file),
                          env=dict(os.environ, PYTHONPATH=ROOT), capture_output=True,
                          text=True, timeout=600)
