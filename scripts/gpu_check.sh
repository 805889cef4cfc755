#!/usr/bin/env bash
# The checks that need a CUDA machine (scripts/gpu_check.py says which), in one run of
# under 8 minutes: this checkout in place with $PYTHON (default python3), which must
# already hold PyTorch (CUDA 13) and the rest; no install, no network.
#   scripts/gpu_check.sh --out gpu-report      # -> gpu-report/gpu-check.{md,json}
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export PYTHONPATH="$root${PYTHONPATH:+:$PYTHONPATH}"
exec "${PYTHON:-python3}" "$root/scripts/gpu_check.py" "$@"
