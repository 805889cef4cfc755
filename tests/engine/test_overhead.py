"""scripts/overhead.py end to end at a toy size: the operators it records replay to the
engine's output (else its comparison would leave work out), and it reports every row."""
import os
import re
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_overhead_report():
    r = subprocess.run([sys.executable, os.path.join(ROOT, 'scripts', 'overhead.py'), '--depth', '3',
                        '--size', '32', '--passes', '2', '--repeats', '1'],
                       capture_output=True, text=True, timeout=600)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-3000:]
    rows = [line.split('|')[1:-1] for line in r.stdout.splitlines()
            if re.match(r'\| (stack|narrow)', line)]
    assert [(name.split(',')[0].strip(), task.strip()) for name, task, *_ in rows] == [
        ('stack of 3 Convolution + ReLU', 'forward'), ('stack of 3 Convolution + ReLU', 'forward + backward'),
        ('narrow FCN-8s', 'forward'), ('narrow FCN-8s', 'forward + backward')]
    for name, task, layers, operators, engine, kept, freed, per_layer, share in rows:
        # every layer but the Input computes; an in-place ReLU (at most every other layer)
        # may be fused into the convolution before it
        assert int(operators) >= (int(layers) - 1) / 2
        assert min(float(engine), float(kept), float(freed)) > 0
