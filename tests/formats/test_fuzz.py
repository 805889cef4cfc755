"""The readers of Caffe's files under fuzzing (fuzz_formats.py): run in a subprocess with
a timeout, so that a native crash or a hang fails here instead of taking pytest down.
FCN_FUZZ_EXAMPLES sets the inputs per target (default 500, about half a minute)."""
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def test_every_input_parses_or_raises_the_documented_error():
    examples = int(os.environ.get('FCN_FUZZ_EXAMPLES', '500'))
    r = subprocess.run([sys.executable, os.path.join(os.path.dirname(HERE), 'support', 'fuzz_formats.py')], capture_output=True,
                       text=True, timeout=60 + examples // 5)  # 8 targets, ~5 ms an input
    assert r.returncode == 0, 'exit status %d\n%s\n%s' % (r.returncode, r.stdout[-3000:], r.stderr[-8000:])
    assert '\nall: ' in r.stdout, r.stdout  # every target ran
