"""scripts/gpu_check.sh's parts that a CPU can check: its arguments, its plan, the version
check and the report it writes (the steps themselves need a CUDA machine)."""
import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SCRIPT = os.path.join(ROOT, 'scripts', 'gpu_check.sh')


def gpu_check():
    spec = importlib.util.spec_from_file_location('gpu_check', os.path.join(ROOT, 'scripts', 'gpu_check.py'))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_dry_run_writes_the_plan(tmp_path):
    r = subprocess.run([SCRIPT, '--dry-run', '--out', str(tmp_path)], env=dict(os.environ, PYTHON=sys.executable),
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    report = json.load(open(tmp_path / 'gpu-check.json'))
    assert list(report['steps']) == ['versions', 'parity', 'bench', 'solve', 'torchrun']
    assert 'torch' in report['versions'] and 'onnxruntime' in report['versions']
    commands = {step: ' '.join(s.get('argv', [])) for step, s in report['steps'].items()}
    assert all(report['steps'][s]['status'] == 'planned' for s in commands if s != 'versions')
    assert '-k cuda' in commands['parity'] and 'torch-cuda-bf16' in commands['bench']
    assert 'voc-fcn8s/solve.py' in commands['solve'] and '--gpu 0' in commands['solve']
    assert '--nproc_per_node 2' in commands['torchrun']
    text = (tmp_path / 'gpu-check.md').read_text()
    assert '| parity | planned |' in text and text in r.stdout


def test_missing_versions_stop_before_any_step(tmp_path, monkeypatch, capsys):
    module = gpu_check()
    monkeypatch.setattr(module, 'version_problems', lambda: ({'torch': '2.13.0+cpu'}, [
        'torch is built for CUDA none, not 13', 'onnx is missing (need 1.16 or newer)']))
    monkeypatch.setattr(module, 'run_step', lambda *a: pytest.fail('a step ran'))
    assert module.main(['--out', str(tmp_path), '--steps', 'versions', 'parity']) == 1
    report = json.load(open(tmp_path / 'gpu-check.json'))
    assert report['steps']['versions']['status'] == 'fail'
    assert report['steps']['parity']['status'] == 'skipped (versions)'
    assert 'Problems: torch is built for CUDA none, not 13; onnx is missing' in (tmp_path / 'gpu-check.md').read_text()


def test_a_step_that_fails_or_overruns_is_reported_with_its_output(tmp_path):
    module = gpu_check()
    failed = module.run_step([sys.executable, '-c', 'print("partial"); raise SystemExit(3)'], 30, {})
    slow = module.run_step([sys.executable, '-c', 'import time; print("started", flush=True); time.sleep(30)'], 1, {})
    assert failed['status'] == 'fail (exit 3)' and 'partial' in failed['tail']
    assert slow['status'] == 'fail (over 1 s)' and 'started' in slow['tail']
    text = module.report(str(tmp_path), {'parity': dict(failed, argv=['x'])}, {'torch': '2.13'}, [])
    assert '| parity | fail (exit 3) |' in text and '## parity' in text and 'partial' in text


def test_versions_are_compared_as_numbers():
    module = gpu_check()
    assert module._older('2.9.1', '2.11') and not module._older('2.13.0+cu130', '2.11')
    assert not module._older('7.34.0', '7.34') and module._older('1.9', '1.16')


def test_unknown_steps_are_refused():
    r = subprocess.run([SCRIPT, '--steps', 'nope'], env=dict(os.environ, PYTHON=sys.executable),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 2 and "invalid choice: 'nope'" in r.stderr
