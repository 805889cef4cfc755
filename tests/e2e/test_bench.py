"""bench.py end to end at a toy size: every requested configuration measured in its own
process, ratios against Caffe when it is there, and the three reports written."""
import json
import os
import subprocess
import sys

import refcaffe

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def bench(out, configs):
    """Run bench.py on FCN-AlexNet's forward at 32 x 32; returns its rows by config."""
    r = subprocess.run([sys.executable, '-m', 'fcn', 'bench', '--nets', 'FCN-AlexNet', '--tasks', 'forward',
                        '--size', '32', '--trials', '2', '--warmup', '1', '--out', str(out),
                        '--configs'] + configs, cwd=ROOT, env=refcaffe.env(), capture_output=True,
                       text=True, timeout=600)
    assert r.returncode == 0, r.stderr[-3000:]
    rows = {row['config']: row for row in json.load(open(out / 'results.json'))['results']}
    assert sorted(rows) == sorted(configs)
    assert all('error' not in row for row in rows.values()), rows
    return rows


def test_bench_writes_its_reports(tmp_path):
    configs = ['torch-cpu', 'torch-cpu-reuse', 'torch-cpu-channels_last', 'torch-cpu-bf16']
    for row in bench(tmp_path, configs).values():
        assert len(row['times']) == 2 and row['mean_s'] > 0 and row['peak_rss_mb'] > 0
        assert row['gflop'] > 0 and 'speedup_vs_caffe' not in row
    table = (tmp_path / 'results.md').read_text()
    assert all('| FCN-AlexNet | forward | %s |' % c in table for c in configs)
    assert (tmp_path / 'results.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'


def test_bench_compares_with_caffe(tmp_path, pycaffe):
    rows = bench(tmp_path, ['torch-cpu', 'caffe-cpu'])
    assert rows['torch-cpu']['speedup_vs_caffe'] == rows['caffe-cpu']['mean_s'] / rows['torch-cpu']['mean_s']
    assert rows['caffe-cpu']['speedup_vs_caffe'] == 1
