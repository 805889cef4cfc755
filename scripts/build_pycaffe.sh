#!/usr/bin/env bash
# Build the real BVLC pycaffe into a cache outside the repository, so that the
# tests can compare torchcaffe with real Caffe (and the caffe backend can run).
#
#   scripts/build_pycaffe.sh [--python PY] [--prefix DIR] [--source DIR]
#                            [--cuda] [--jobs N] [--force]
#
# Default: CPU-only, from Debian's `caffe` source package (bullseye), with
# Caffe's Makefile: Python layer on, OpenBLAS, HDF5, LMDB, no OpenCV/LevelDB,
# built for PY (default python3) and its numpy. Installs the apt build
# dependencies itself (sudo when not root). A stamp file records what was
# built; when nothing changed a second run only checks it and exits.
# Result: <prefix>/python (PYTHONPATH), <prefix>/lib, <prefix>/bin/caffe and
# <prefix>/env.sh. Prefix: --prefix, else $FCN_PYCAFFE_PREFIX, else
# ${XDG_CACHE_HOME:-$HOME/.cache}/fcn/pycaffe.
set -euo pipefail

CAFFE_VERSION=1.0.0+git20180821.99bd997-8   # Debian source package of BVLC Caffe
CAFFE_SUITE=bullseye                        # the last Debian suite that ships it
# GPU build: the architectures of T4/RTX 20, A100, A10/RTX 30, L4/RTX 40,
# H100/H200 (CUDA 13 no longer accepts anything before sm_75), plus sm_90 PTX so
# newer GPUs can JIT-compile.
CUDA_ARCH="-gencode arch=compute_75,code=sm_75"
CUDA_ARCH+=" -gencode arch=compute_80,code=sm_80 -gencode arch=compute_86,code=sm_86"
CUDA_ARCH+=" -gencode arch=compute_89,code=sm_89 -gencode arch=compute_90,code=[sm_90,compute_90]"

say() { echo "build_pycaffe: $*"; }
die() { echo "build_pycaffe: error: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; }

python=python3
prefix=${FCN_PYCAFFE_PREFIX:-${XDG_CACHE_HOME:-$HOME/.cache}/fcn/pycaffe}
source_dir=
cuda=0
jobs=$(nproc)
force=0
while [ $# -gt 0 ]; do
    case $1 in
        --python) python=${2:?--python needs a value}; shift ;;
        --prefix) prefix=${2:?--prefix needs a value}; shift ;;
        --source) source_dir=${2:?--source needs a value}; shift ;;
        --cuda) cuda=1 ;;
        --jobs) jobs=${2:?--jobs needs a value}; shift ;;
        --force) force=1 ;;
        -h|--help) usage; exit 0 ;;
        *) usage >&2; die "unknown argument: $1" ;;
    esac
    shift
done

sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
command -v "$python" >/dev/null || die "python not found: $python"
mkdir -p "$prefix"
prefix=$(cd "$prefix" && pwd)
script_sum=$(sha256sum "${BASH_SOURCE[0]}" | cut -c1-16)  # the patches live here

# One build at a time per prefix (two CI jobs on one machine share the cache).
exec 9>"$prefix/.lock"
flock 9

# --- apt helpers (the build dependencies are installed further down) -------------
apt_updated=0
apt_update() {
    if [ "$apt_updated" = 0 ]; then
        say "apt-get update"
        $sudo apt-get update -q >/dev/null
        apt_updated=1
    fi
}
need_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        apt_update
        say "installing ${missing[*]}"
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" >/dev/null
    fi
}
# --- What would be built: the stamp -------------------------------------------
# Python facts, one per line: executable, version, X.Y, include dir, library
# dir, numpy version, numpy include dir.
pyinfo=$("$python" -c '
import sys, sysconfig
print(sys.executable); print(sys.version.split()[0])
print("%d.%d" % sys.version_info[:2]); print(sysconfig.get_paths()["include"])
print(sysconfig.get_config_var("LIBDIR"))
try:
    import numpy
    print(numpy.__version__); print(numpy.get_include())
except ImportError:
    print(""); print("")
') || die "cannot run $python"
mapfile -t pyfacts <<<"$pyinfo"
py_exe=${pyfacts[0]} py_version=${pyfacts[1]} py_xy=${pyfacts[2]}
py_include=${pyfacts[3]} py_libdir=${pyfacts[4]}
np_version=${pyfacts[5]} np_include=${pyfacts[6]}

if [ -n "$source_dir" ]; then
    [ -f "$source_dir/Makefile" ] && [ -d "$source_dir/python/caffe" ] \
        || die "--source $source_dir is not a Caffe checkout"
    source_dir=$(cd "$source_dir" && pwd)
    # Any edited, added or removed file changes this fingerprint.
    fingerprint=$(cd "$source_dir" && find . \( -name .git -o -name build -o -name '.build_*' \
        -o -name distribute \) -prune -o -type f -printf '%P %s %T@\n' | sort | sha256sum | cut -c1-16)
    source_id="dir $source_dir $fingerprint"
else
    source_id="debian caffe $CAFFE_VERSION"
fi
if [ "$cuda" = 1 ]; then
    nvcc=$(command -v nvcc || echo /usr/local/cuda/bin/nvcc)
    [ -x "$nvcc" ] || die "--cuda: nvcc not found (put CUDA's bin on PATH)"
    # Without a host compiler nvcc --dryrun prints no TOP= line: install it first.
    command -v g++ >/dev/null || need_packages build-essential
    # nvcc may be a wrapper script elsewhere: ask it where its toolkit is.
    cuda_dir=$("$nvcc" --dryrun -x cu -c /dev/null -o /dev/null 2>&1 | sed -n 's/^#\$ TOP=//p' | head -n 1)
    [ -n "$cuda_dir" ] && cuda_dir=$(cd "$cuda_dir" && pwd) || die "--cuda: cannot locate the CUDA toolkit of $nvcc"
    for h in cublas_v2.h curand.h; do
        [ -f "$cuda_dir/include/$h" ] || die "--cuda: $cuda_dir/include/$h missing (Caffe needs cuBLAS and cuRAND)"
    done
    variant="cuda $cuda_dir $("$nvcc" --version | tail -n 1)"
else
    variant=cpu
fi
stamp="caffe: $source_id
variant: $variant
script: $script_sum
python: $py_exe $py_version
numpy: $np_version"

usage_hint() {
    say "pycaffe is ready in $prefix. To use it:"
    echo "    source $prefix/env.sh"
    echo "  or"
    echo "    export PYTHONPATH=$prefix/python\${PYTHONPATH:+:\$PYTHONPATH}"
    echo "  (no LD_LIBRARY_PATH needed: the libraries find each other by rpath)"
}

import_ok() {
    PYTHONPATH="$prefix/python" GLOG_minloglevel=2 "$py_exe" -c '
import sys, caffe
sys.exit(not caffe.__file__.startswith(sys.argv[1]))' "$prefix/python/" >/dev/null 2>&1
}

if [ "$force" = 0 ] && [ -f "$prefix/stamp" ] && [ "$(cat "$prefix/stamp")" = "$stamp" ] && import_ok; then
    say "up to date ($prefix/stamp)"
    usage_hint
    exit 0
fi
[ -n "$np_version" ] || die "numpy is not importable by $py_exe (install it there first)"
rm -f "$prefix/stamp"   # from here on the prefix is not a finished build
start=$SECONDS

command -v dpkg-query >/dev/null || die "this script needs a Debian or Ubuntu system (apt)"
need_packages build-essential dpkg-dev libboost-dev libboost-filesystem-dev \
    libboost-system-dev libboost-thread-dev libboost-python-dev libgflags-dev \
    libgoogle-glog-dev libhdf5-dev liblmdb-dev libopenblas-dev libprotobuf-dev protobuf-compiler
if [ ! -f "$py_include/Python.h" ]; then
    # Debian's own interpreters get their headers from apt; others bring them.
    case $py_exe in
        /usr/bin/*) need_packages "libpython$py_xy-dev" ;;
        *) die "Python.h not found in $py_include (headers of $py_exe)" ;;
    esac
fi
multiarch=$(gcc -print-multiarch)
boost_python=boost_python${py_xy/./}   # Debian names it per version: boost_python311
[ -e "/usr/lib/$multiarch/lib$boost_python.so" ] \
    || die "lib$boost_python.so not found: this system's boost-python does not support Python $py_xy"

# --- Source tree ------------------------------------------------------------------
tree=$prefix/build
rm -rf "$tree"
if [ -n "$source_dir" ]; then
    say "copying $source_dir"
    cp -a "$source_dir/." "$tree/"
    rm -rf "$tree/.git" "$tree/build" "$tree"/.build_* "$tree/distribute" "$tree/Makefile.config"
else
    downloads=$prefix/download
    dsc=$downloads/caffe_$CAFFE_VERSION.dsc
    if [ ! -f "$dsc" ]; then
        if ! apt-cache showsrc caffe 2>/dev/null | grep -qx "Version: $CAFFE_VERSION"; then
            # Debian dropped caffe after bullseye: add bullseye's source index
            # unless some sources file already names it.
            if ! grep -rqsE "^deb-src .*debian.* $CAFFE_SUITE( |$)" /etc/apt/sources.list /etc/apt/sources.list.d/; then
                keyring=/usr/share/keyrings/debian-archive-keyring.gpg
                [ -f "$keyring" ] || need_packages debian-archive-keyring
                say "adding /etc/apt/sources.list.d/fcn-caffe-src.list (deb-src $CAFFE_SUITE)"
                echo "deb-src [signed-by=$keyring] http://deb.debian.org/debian $CAFFE_SUITE main" \
                    | $sudo tee /etc/apt/sources.list.d/fcn-caffe-src.list >/dev/null
            fi
            apt_updated=0
            apt_update
        fi
        say "downloading Debian source package caffe $CAFFE_VERSION"
        mkdir -p "$downloads"
        # Output only on failure (as root apt warns that it downloads unsandboxed).
        (cd "$downloads" && apt-get source -q --download-only "caffe=$CAFFE_VERSION") \
            >"$prefix/download.log" 2>&1 || { cat "$prefix/download.log" >&2; die "apt-get source failed"; }
    fi
    say "unpacking (with Debian's patches)"
    dpkg-source --no-copy -x "$dsc" "$tree" >"$prefix/download.log" 2>&1 \
        || { cat "$prefix/download.log" >&2; die "dpkg-source -x $dsc failed"; }
fi
cd "$tree"

# --- Patches for today's toolchain (each checks that it took) -----------------------
# protobuf >= 3.21 only has the one-argument SetTotalBytesLimit (the warning
# threshold argument is gone).
sed -i 's/SetTotalBytesLimit(\([A-Za-z_]*\), *[0-9]*)/SetTotalBytesLimit(\1)/' src/caffe/util/io.cpp
grep -q 'SetTotalBytesLimit([A-Za-z_]*)' src/caffe/util/io.cpp || die "patch failed: SetTotalBytesLimit"

# The Makefile compiles caffe_pb2.py from `src`, so its descriptor is named
# caffe/proto/caffe.proto; torchcaffe's identical schema is named caffe.proto,
# and two files declaring package `caffe` cannot share protobuf's default pool
# ("duplicate symbol"). Compile from the proto's own directory: same name and
# same bytes, so both modules import into one process.
sed -i 's|--proto_path=src --python_out=python \$<|--proto_path=$(PROTO_SRC_DIR) --python_out=$(PY_PROTO_BUILD_DIR) $<|' Makefile
grep -q -- '--python_out=$(PY_PROTO_BUILD_DIR)' Makefile || die "patch failed: Makefile python proto rule"

# caffe.io imports scikit-image and scipy at module level, and caffe/__init__
# imports caffe.io: make them optional so `import caffe` needs only numpy and
# protobuf (only caffe.io's image helpers use them).
if grep -q '^import skimage\.io$' python/caffe/io.py; then
    sed -i -e 's/^import skimage\.io$/try:  # optional (FCN build_pycaffe.sh)\n    import skimage.io/' \
        -e 's/^from scipy\.ndimage import zoom$/    from scipy.ndimage import zoom/' \
        -e 's/^from skimage\.transform import resize$/    from skimage.transform import resize\nexcept ImportError:\n    pass/' \
        python/caffe/io.py
fi
grep -q '^import skimage' python/caffe/io.py && die "patch failed: caffe/io.py skimage import"

# pycaffe.py and net_spec.py use `six` (a Python 2 shim) only for dict
# iteration; spell that in Python 3 so `six` need not be installed.
sed -i -e '/^import six$/d' \
    -e 's/six\.next(six\.itervalues(\([A-Za-z_.]*\)))/next(iter(\1.values()))/g' \
    -e 's/six\.iteritems(\([A-Za-z_.]*\))/\1.items()/g' \
    python/caffe/pycaffe.py python/caffe/net_spec.py
grep -q 'six' python/caffe/pycaffe.py python/caffe/net_spec.py && die "patch failed: six"

if [ "$cuda" = 1 ]; then
    # CUDA 13 removed cudaDeviceProp's clockRate, deviceOverlap and
    # kernelExecTimeoutEnabled; Caffe only logs them in DeviceQuery.
    sed -i -e '/prop\.clockRate/d' \
        -e '/"Concurrent copy and execution: "/{N;/prop\.deviceOverlap/d}' \
        -e '/"Kernel execution timeout: *"/{N;/prop\.kernelExecTimeoutEnabled/d}' \
        src/caffe/common.cpp
    grep -qE 'clockRate|deviceOverlap|kernelExecTimeoutEnabled' src/caffe/common.cpp \
        && die "patch failed: cudaDeviceProp fields in src/caffe/common.cpp"
fi

# --- Makefile.config ---------------------------------------------------------------
{
    echo "# Written by FCN's scripts/build_pycaffe.sh"
    if [ "$cuda" = 1 ]; then
        echo "CUDA_DIR := $cuda_dir"
        echo "CUDA_ARCH := $CUDA_ARCH"
        echo "USE_CUDNN := 0"   # Caffe's cuDNN code predates cuDNN 8's API
    else
        echo "CPU_ONLY := 1"
    fi
    echo "USE_OPENCV := 0"
    echo "USE_LEVELDB := 0"
    echo "USE_LMDB := 1"   # the Data layer's backend (raw Datums: no OpenCV needed)
    echo "WITH_PYTHON_LAYER := 1"
    echo "BLAS := open"
    echo "PYTHON_INCLUDE := $py_include $np_include"
    echo "PYTHON_LIB := $py_libdir"
    echo "PYTHON_LIBRARIES := $boost_python python$py_xy"
    # Debian keeps the serial HDF5 in its own directories.
    echo "INCLUDE_DIRS := \$(PYTHON_INCLUDE) /usr/include/hdf5/serial"
    echo "LIBRARY_DIRS := \$(PYTHON_LIB) /usr/lib/$multiarch/hdf5/serial"
    # rpaths: _caffe.so (prefix/python/caffe) finds prefix/lib, and everything
    # finds this Python's libpython (and CUDA's libraries) without LD_LIBRARY_PATH.
    rpath="-Wl,-rpath,\\\$\$ORIGIN/../../lib -Wl,-rpath,$py_libdir"
    [ "$cuda" = 1 ] && rpath+=" -Wl,-rpath,$cuda_dir/lib64"
    echo "LINKFLAGS := $rpath"
    echo "BUILD_DIR := build"
    echo "Q := @"
} >Makefile.config

# --- Build -------------------------------------------------------------------------
log=$prefix/build.log
say "building ($variant, Python $py_version, numpy $np_version, $jobs jobs; log: $log)"
# Debian's protoc must match Debian's libprotobuf headers.
if ! PATH=/usr/bin:$PATH make -j"$jobs" all pycaffe 2>&1 | tee "$log" \
        | grep --line-buffered -E '^(CXX|LD|AR|NVCC|PROTOC)'; then
    tail -n 40 "$log" >&2
    die "make failed (full log: $log)"
fi

# torchcaffe's caffe_pb2 declares the same file caffe.proto; whichever module
# comes second must reuse the registered descriptor, because protobuf refuses a
# second registration (torchcaffe/proto/__init__.py handles the other order).
sed -i 's/^DESCRIPTOR = _descriptor_pool\.Default()\.AddSerializedFile(\(.*\))$/try:  # registered already by torchcaffe (FCN): same schema, reuse it\n  DESCRIPTOR = _descriptor_pool.Default().FindFileByName("caffe.proto")\nexcept KeyError:\n  DESCRIPTOR = _descriptor_pool.Default().AddSerializedFile(\1)/' \
    python/caffe/proto/caffe_pb2.py
grep -q 'FindFileByName("caffe.proto")' python/caffe/proto/caffe_pb2.py \
    || die "patch failed: caffe_pb2.py reuse of a registered caffe.proto"

# --- Install into the prefix ----------------------------------------------------------
rm -rf "$prefix/python" "$prefix/lib" "$prefix/bin"
mkdir -p "$prefix/python" "$prefix/lib" "$prefix/bin"
cp -a python/caffe "$prefix/python/"
rm -rf "$prefix/python/caffe/test" "$prefix/python/caffe/_caffe.cpp"
cp -a build/lib/libcaffe.so* "$prefix/lib/"
for tool in caffe upgrade_net_proto_text upgrade_net_proto_binary upgrade_solver_proto_text; do
    cp "build/tools/$tool.bin" "$prefix/bin/$tool"
done
cd "$prefix"
rm -rf "$tree"   # objects are not reused: a changed option rebuilds from scratch
{
    echo "# Real BVLC pycaffe built by FCN's scripts/build_pycaffe.sh: source this file."
    echo "export FCN_PYCAFFE_PREFIX=$(printf %q "$prefix")"
    echo "export PYTHONPATH=$(printf %q "$prefix/python")\${PYTHONPATH:+:\$PYTHONPATH}"
    echo "export PATH=$(printf %q "$prefix/bin"):\$PATH"
} >env.sh
import_ok || die "the build does not import: PYTHONPATH=$prefix/python $py_exe -c 'import caffe'"
printf '%s\n' "$stamp" >stamp
say "built in $((SECONDS - start)) s"
usage_hint
