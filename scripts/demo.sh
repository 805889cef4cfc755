#!/usr/bin/env bash
# Run the demo (fcn demo) from a fresh clone. Installs what it needs first
# (see setup.sh), and with --backend caffe or FCN_BACKEND=caffe builds the real
# pycaffe too (see build_pycaffe.sh). Arguments go to fcn demo, e.g.
#   scripts/demo.sh --out /tmp/demo --backend caffe
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
py=${FCN_VENV:-$root/.venv}/bin/python
backend=${FCN_BACKEND:-torch}
previous=
for arg in "$@"; do
    [ "$previous" = --backend ] && backend=$arg
    [ "$arg" = --backend=caffe ] && backend=caffe
    previous=$arg
done
if [ "$backend" = caffe ]; then
    "$root/scripts/build_pycaffe.sh" --python "$py"
fi
exec "$py" -m fcn demo "$@"
