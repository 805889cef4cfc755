"""BVLC Caffe's own Python test suite (python/caffe/test of the Caffe source that
scripts/build_pycaffe.sh downloads) passes on torchcaffe; all 52 pass, as on the
reference pycaffe."""
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_bvlc_python_suite_passes_on_torchcaffe(tmp_path):
    out = tmp_path / 'outcomes.json'
    r = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'bvlc_python_tests.py'),
                        '--json', str(out)], capture_output=True, text=True, timeout=600)
    if r.returncode == 2:
        pytest.skip(r.stderr.strip())
    assert r.returncode == 0, r.stdout[-4000:] + r.stderr[-4000:]
    result = json.loads(out.read_text())
    failing = sorted(t for t, o in result['outcomes'].items() if o != 'passed')
    assert result['total'] >= 52, result['total']
    # the issue asks for 50 of 52; every one passes, so any failure is a regression
    assert not failing, (failing, r.stdout[-6000:])
