#!/usr/bin/env bash
# Run the whole test suite. Installs what it needs first (see setup.sh).
# Arguments go to pytest, e.g. scripts/test.sh -k solver -x
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
# Programs some tests run: protoc (the schema test regenerates caffe_pb2), graphviz's
# dot (torchcaffe.draw renders with it).
missing=()
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
command -v dot >/dev/null 2>&1 || missing+=(graphviz)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y -q "${missing[@]}"
fi
py=${FCN_VENV:-$root/.venv}/bin/python
# Real BVLC pycaffe for the live comparisons with Caffe: built once into
# $FCN_PYCAFFE_PREFIX (default ~/.cache/fcn/pycaffe, where the tests look too),
# then a stamp check of a second or less. FCN_NO_PYCAFFE=1 skips those tests.
if [ "${FCN_NO_PYCAFFE:-0}" != 1 ]; then
    "$root/scripts/build_pycaffe.sh" --python "$py"
fi
cd "$root"
exec "$py" -m pytest "$@"
