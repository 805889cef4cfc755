"""Backend selection: one place, flag or environment, consistent across imports."""
import subprocess
import sys
import os

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def run(code, **env):
    e = dict(os.environ, **env)
    e.pop('FCN_BACKEND', None) if 'FCN_BACKEND' not in env else None
    return subprocess.run([sys.executable, '-c', code], cwd=ROOT, env=e,
                          capture_output=True, text=True)


def test_default_is_torch_and_is_recorded():
    r = run('from fcn import backend, os; c = backend.load(); print(c.__name__, os.environ["FCN_BACKEND"])')
    assert r.stdout.split() == ['torchcaffe', 'torch'], r.stderr


def test_environment_chooses():
    r = run('from fcn import backend; print(backend.load().__name__)', FCN_BACKEND='torch')
    assert r.stdout.strip() == 'torchcaffe'


def test_unknown_backend_is_an_error():
    r = run('from fcn import backend; backend.load("tensorflow")')
    assert "unknown backend 'tensorflow'" in r.stderr


def test_switching_after_load_is_refused():
    r = run('from fcn import backend; backend.load("torch"); backend.load("caffe")')
    assert "backend 'caffe' requested after 'torch' was loaded" in r.stderr


def test_missing_pycaffe_says_how_to_build_it(tmp_path):
    r = run('from fcn import backend; backend.load("caffe")', FCN_PYCAFFE_PREFIX=str(tmp_path),
            PYTHONPATH='')
    if r.returncode == 0:  # a pycaffe is importable from sys.path itself
        return
    assert 'scripts/build_pycaffe.sh' in r.stderr
