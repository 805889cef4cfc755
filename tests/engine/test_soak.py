"""Resident memory stays flat while training: scripts/soak.py (the 2,000-iteration soak of
docs/reliability.md) for a couple of hundred iterations, with a bound on the growth.
A leak of one activation per iteration (megabytes) fails it many times over."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_rss_stays_flat_after_warmup():
    r = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'soak.py'), '--iters', '200',
                        '--warmup', '60', '--every', '20', '--snapshot', '100', '--size', '32',
                        '--max-growth', '25'], capture_output=True, text=True, timeout=900)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    grown = float(re.search(r'RSS growth after warm-up: (-?[\d.]+) MB', r.stdout).group(1))
    assert 0 <= grown <= 25
