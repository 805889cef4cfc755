#!/usr/bin/env bash
# Check the GPU build of Caffe (build_pycaffe.sh --cuda, as the Dockerfile runs
# it) on a machine without a GPU: compile it, import it, and run a net on the
# CPU with it. A manual check, not a test: it takes about 8 minutes on 2 cores.
# docs/docker.md records the last result.
#
#   scripts/check_cuda_build.sh [--source DIR] [--python PY] [--jobs N] [--keep]
#
# Needs an nvcc on PATH (else /usr/local/cuda/bin/nvcc). Caffe also needs
# cuBLAS and cuRAND: when nvcc's toolkit lacks them (a compiler-only install),
# NVIDIA's PyPI wheels supply them, merged with nvcc's toolkit into a scratch
# one. Everything goes to a scratch directory (removed unless --keep), never
# to the pycaffe the tests use. --source DIR builds a BVLC Caffe checkout
# (the Dockerfile's way), default Debian's source package.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
python=$root/.venv/bin/python
build_args=()
keep=0
while [ $# -gt 0 ]; do
    case $1 in
        --source|--jobs) build_args+=("$1" "${2:?$1 needs a value}"); shift ;;
        --python) python=${2:?--python needs a value}; shift ;;
        --keep) keep=1 ;;
        *) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0" >&2; exit 2 ;;
    esac
    shift
done
say() { echo "check_cuda_build: $*"; }

nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
[ -x "$nvcc" ] || { say "no nvcc (put CUDA's bin on PATH)"; exit 1; }
toolkit=$("$nvcc" --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n 1)
toolkit=$(cd "$toolkit" && pwd -P)
release=$("$nvcc" --version | sed -n 's/.*release \([0-9]*\)\.\([0-9]*\).*/\1.\2/p')
work=$(mktemp -d "${TMPDIR:-/tmp}/fcn-cuda-check.XXXXXX")
[ "$keep" = 1 ] || trap 'rm -rf "$work"' EXIT
start=$SECONDS
say "nvcc $release, toolkit $toolkit; scratch $work"

if [ ! -f "$toolkit/include/cublas_v2.h" ] || [ ! -f "$toolkit/include/curand.h" ]; then
    # CUDA 13's wheels are nvidia-cublas, nvidia-curand; CUDA 12's carry a -cu12 suffix.
    major=${release%%.*}
    suffix=; [ "$major" -ge 13 ] || suffix=-cu$major
    say "no cuBLAS/cuRAND in $toolkit: installing nvidia-cublas$suffix, nvidia-curand$suffix"
    python3 -m venv "$work/wheels"
    "$work/wheels/bin/pip" install -q "nvidia-cublas$suffix" "nvidia-curand$suffix"
    # A toolkit of links: nvcc's files, plus the wheels' headers and libraries.
    merged=$work/cuda
    mkdir -p "$merged/bin" "$merged/include" "$merged/lib" "$merged/targets/x86_64-linux"
    ln -s "$toolkit/nvvm" "$merged/nvvm"
    ln -s lib "$merged/lib64"
    ln -s ../../include ../../lib "$merged/targets/x86_64-linux/"
    ln -s "$toolkit"/bin/* "$merged/bin/"
    ln -s "$toolkit"/include/* "$merged/include/"
    ln -s "$toolkit"/lib64/* "$merged/lib/"
    for h in cublas_v2.h curand.h; do
        dir=$(dirname "$(find "$work/wheels" -name "$h" | head -n 1)")
        ln -sf "$dir"/* "$merged/include/"
        for so in "$(dirname "$dir")"/lib/*.so.*; do
            ln -sf "$so" "$merged/lib/"
            ln -sf "$so" "$merged/lib/$(basename "${so%.so.*}").so"  # -lcublas needs libcublas.so
        done
    done
    export PATH=$merged/bin:$PATH
fi

prefix=$work/pycaffe
"$root/scripts/build_pycaffe.sh" --cuda --python "$python" --prefix "$prefix" "${build_args[@]}"
say "libraries of _caffe.so:"
ldd "$prefix/python/caffe/_caffe.so" | grep -E 'caffe|cublas|curand|cudart|not found' | sed 's/^/    /'
if ldd "$prefix/python/caffe/_caffe.so" | grep -q 'not found'; then
    say "FAILED: unresolved libraries"
    exit 1
fi
# The GPU build runs CPU mode too (without a GPU Caffe only warns that cuBLAS and
# cuRAND are unavailable): one tiny net, forward and backward.
PYTHONPATH=$prefix/python GLOG_minloglevel=2 "$python" - <<'EOF'
import os, tempfile
import numpy as np
import caffe
caffe.set_mode_cpu()
net_text = '''
layer { name: "data" type: "Input" top: "data" input_param { shape { dim: 1 dim: 2 dim: 5 dim: 5 } } }
layer { name: "conv" type: "Convolution" bottom: "data" top: "conv"
        convolution_param { num_output: 3 kernel_size: 3 weight_filler { type: "msra" } } }
layer { name: "loss" type: "EuclideanLoss" bottom: "conv" bottom: "conv" top: "loss" }
'''
with tempfile.NamedTemporaryFile('w', suffix='.prototxt', delete=False) as f:
    f.write(net_text)
net = caffe.Net(f.name, caffe.TRAIN)
os.unlink(f.name)
net.blobs['data'].data[...] = np.random.rand(1, 2, 5, 5)
net.forward()
net.backward()
assert net.blobs['conv'].data.shape == (1, 3, 3, 3) and np.isfinite(net.blobs['conv'].data).all()
assert hasattr(caffe, 'Layer')  # built with the Python layer
print('check_cuda_build: import caffe, CPU-mode forward and backward: ok (%s)' % caffe.__file__)
EOF
say "passed in $((SECONDS - start)) s"
