# FCN in a container. Two flavours from this one file (docs/docker.md):
#
#   docker build -t fcn .                       # cuda: PyTorch CUDA + real BVLC Caffe (CUDA)
#   docker build -t fcn:cpu --build-arg FLAVOUR=cpu --build-arg BASE=debian:bookworm \
#       --build-arg TORCH_INDEX=https://download.pytorch.org/whl/cpu .   # torch backend, CPU
#
#   docker run --gpus all --user $(id -u):$(id -g) -v $PWD/out:/out fcn        # the demo
#   docker run --gpus all --user $(id -u):$(id -g) -v DATA:/data -v $PWD/out:/out fcn \
#       python voc-fcn8s/solve.py --data-root /data --gpu 0 --out /out/voc-fcn8s
#   docker run --gpus all -e FCN_BACKEND=caffe ... fcn python voc-fcn8s/solve.py ...
#
# Without --gpus all, --gpu N is dropped with a message and the command runs on the CPU
# (scripts/docker/entrypoint.sh). Outputs: /out (demo, <exp>/snapshot); weights:
# DATA/ilsvrc-nets (/fcn/ilsvrc-nets links there).
#
# Smallest image: the final stage is a plain OS image; PyTorch's CUDA wheels bring the CUDA
# libraries once, and Caffe (compiled in the devel image) loads cuBLAS, cuRAND and the CUDA
# runtime from those wheels. Ubuntu 24.04: its protobuf compiler (3.21) generates Python
# that the protobuf runtime we need still loads (22.04's 3.12 does not).
ARG FLAVOUR=cuda
ARG BASE=ubuntu:24.04
ARG CUDA_DEVEL=nvidia/cuda:13.0.1-devel-ubuntu24.04

# The OS of the final image: Python and certificates.
FROM ${BASE} AS os
ENV DEBIAN_FRONTEND=noninteractive
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates python3 \
    && rm -rf /var/lib/apt/lists/*

# One virtual environment for Caffe's build and the final image: PyTorch from the
# flavour's index, then pyproject's dependencies (numpy and protobuf: `import caffe`).
FROM os AS venv
RUN apt-get update && apt-get install -y --no-install-recommends python3-venv \
    && rm -rf /var/lib/apt/lists/*
# PyTorch's CUDA 13.0 build, the version scripts/setup.sh installs; empty TORCH_INDEX: pip's own.
ARG TORCH=torch==2.13.0
ARG TORCH_INDEX=https://download.pytorch.org/whl/cu130
COPY pyproject.toml scripts/docker/steps.py /opt/fcn-build/
RUN python3 -m venv /opt/venv \
    && /opt/venv/bin/pip install --no-cache-dir "${TORCH}" ${TORCH_INDEX:+--index-url "$TORCH_INDEX"} \
    && python3 /opt/fcn-build/steps.py requirements /opt/fcn-build/pyproject.toml >/opt/fcn-build/requirements.txt \
    && /opt/venv/bin/pip install --no-cache-dir -r /opt/fcn-build/requirements.txt

# cuda: BVLC Caffe at a pinned commit, compiled against the venv's Python and numpy.
FROM ${CUDA_DEVEL} AS caffe-cuda
# The last commit of BVLC/caffe's master branch (2020-02-12).
ARG CAFFE_COMMIT=9b891540183ddc834a02b2bd81b31afae71b2153
ENV DEBIAN_FRONTEND=noninteractive
# python3-dev: Caffe's Python layer compiles against Python.h.
RUN apt-get update && apt-get install -y --no-install-recommends \
        ca-certificates git python3-dev python3-venv \
    && rm -rf /var/lib/apt/lists/*
COPY --from=venv /opt/venv /opt/venv
COPY scripts/docker/steps.py /opt/fcn-build/steps.py
RUN git clone https://github.com/BVLC/caffe.git /opt/caffe-src \
    && git -C /opt/caffe-src checkout --detach ${CAFFE_COMMIT}
COPY scripts/build_pycaffe.sh /opt/build_pycaffe.sh
# Fail in seconds, not after the compile, when this nvcc lacks an architecture we promise.
RUN nvcc --list-gpu-arch >/opt/fcn-build/nvcc-archs.txt \
    && python3 /opt/fcn-build/steps.py archs /opt/fcn-build/nvcc-archs.txt \
        "$(sed -n 's/^CUDA_ARCH+\{0,1\}="\(.*\)"$/\1/p' /opt/build_pycaffe.sh)"
RUN /opt/build_pycaffe.sh --source /opt/caffe-src --cuda --python /opt/venv/bin/python \
        --prefix /opt/pycaffe \
    && rm -rf /opt/caffe-src /var/lib/apt/lists/*
# The Debian packages of the libraries Caffe loads, with the CUDA ones resolved in the
# venv (PyTorch's wheels) as the final image resolves them: those need no package.
RUN python3 /opt/fcn-build/steps.py libdirs /opt/venv >/opt/pycaffe/ld.so.conf \
    && LD_LIBRARY_PATH=$(paste -sd: /opt/pycaffe/ld.so.conf) \
        python3 /opt/fcn-build/steps.py needed --provided /opt/venv --provided /opt/pycaffe \
        /opt/pycaffe/lib/libcaffe.so.1.0.0 /opt/pycaffe/python/caffe/_caffe.so >/opt/pycaffe/packages.txt \
    && cat /opt/pycaffe/packages.txt

# cpu: no Caffe (the torch backend runs everything); an empty prefix.
FROM os AS caffe-cpu
RUN mkdir -p /opt/pycaffe && touch /opt/pycaffe/packages.txt /opt/pycaffe/ld.so.conf

FROM caffe-${FLAVOUR} AS caffe

FROM os
COPY --from=venv /opt/venv /opt/venv
COPY --from=caffe /opt/pycaffe /opt/pycaffe
COPY scripts/docker/steps.py /opt/fcn-build/steps.py
# Caffe's libraries' packages, less those this base has or holds; Caffe finds the CUDA
# libraries of PyTorch's wheels through ld.so.conf.
RUN python3 /opt/fcn-build/steps.py install-list /opt/pycaffe/packages.txt >/opt/fcn-build/install.txt \
    && if [ -s /opt/fcn-build/install.txt ]; then \
        apt-get update && xargs apt-get install -y --no-install-recommends </opt/fcn-build/install.txt \
        && rm -rf /var/lib/apt/lists/*; fi \
    && cp /opt/pycaffe/ld.so.conf /etc/ld.so.conf.d/fcn-cuda-wheels.conf && ldconfig
# HOME=/tmp: any --user can write its caches there. FCN_DATA_ROOT: --data-root may be left out.
ENV PATH=/opt/venv/bin:$PATH FCN_PYCAFFE_PREFIX=/opt/pycaffe GLOG_minloglevel=2 \
    FCN_DATA_ROOT=/data HOME=/tmp PYTHONDONTWRITEBYTECODE=1 \
    NVIDIA_VISIBLE_DEVICES=all NVIDIA_DRIVER_CAPABILITIES=compute,utility
WORKDIR /fcn
COPY . /fcn
# Outputs go to /out (./out is the demo's default, <exp>/snapshot solve.py's), weights come
# from the data mount; /out, /data world-writable so that any --user works without mounts too.
RUN pip install --no-cache-dir --no-deps -e /fcn \
    && install -m 0755 scripts/docker/entrypoint.sh /usr/local/bin/fcn-entrypoint \
    && mkdir -m 1777 -p /out /data \
    && rm -rf /fcn/out /fcn/ilsvrc-nets && ln -s /out /fcn/out && ln -s /data/ilsvrc-nets /fcn/ilsvrc-nets \
    && for solve in /fcn/*/solve.py; do \
        exp=$(basename "$(dirname "$solve")"); rm -rf "/fcn/$exp/snapshot"; ln -s "/out/$exp" "/fcn/$exp/snapshot"; done \
    && python -c "import torch, torchcaffe" \
    && if [ -s /opt/pycaffe/packages.txt ]; then FCN_BACKEND=caffe python -c "from fcn import backend; backend.load()"; fi
ENTRYPOINT ["fcn-entrypoint"]
CMD ["fcn", "demo", "--gpu", "0"]
