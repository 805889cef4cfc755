#!/usr/bin/env bash
# Create ./.venv (once) and install the project with its Python dependencies.
# PyTorch comes from PyTorch's CPU index unless an NVIDIA driver is present, so
# a CPU-only machine never downloads gigabytes of CUDA libraries.
# Override with FCN_TORCH="torch==X.Y.Z" or FCN_TORCH_INDEX=<url>.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
venv=${FCN_VENV:-$root/.venv}
torch_spec=${FCN_TORCH:-torch==2.13.0}

if [ ! -x "$venv/bin/python" ]; then
    echo "setup: creating virtual environment $venv"
    python3 -m venv "$venv"
fi
py=$venv/bin/python
if ! "$py" -c 'import torch' 2>/dev/null; then
    if command -v nvidia-smi >/dev/null 2>&1 && [ -z "${FCN_TORCH_INDEX:-}" ]; then
        echo "setup: installing $torch_spec (CUDA build from PyPI)"
        "$py" -m pip install -q "$torch_spec"
    else
        index=${FCN_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
        # an unreachable index costs pip five retries per package: ask once, then fall back
        if "$py" -c 'import sys, urllib.request; urllib.request.urlopen(sys.argv[1], timeout=10)' \
                "$index/torch/" 2>/dev/null; then
            echo "setup: installing $torch_spec from $index"
            "$py" -m pip install -q "$torch_spec" --index-url "$index"
        else
            echo "setup: $index is unreachable; installing $torch_spec from pip's configured index"
            "$py" -m pip install -q "$torch_spec"
        fi
    fi
fi
"$py" -m pip install -q -e "$root[test]"
