#!/usr/bin/env bash
# Run the whole test suite. Installs what it needs first (see setup.sh).
# Arguments go to pytest, e.g. scripts/test.sh -k solver -x
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
"$root/scripts/setup.sh"
if ! command -v protoc >/dev/null 2>&1; then  # the schema test regenerates caffe_pb2
    sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
    $sudo apt-get install -y -q protobuf-compiler
fi
cd "$root"
exec "${FCN_VENV:-$root/.venv}/bin/python" -m pytest "$@"
