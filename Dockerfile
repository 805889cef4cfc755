# FCN on the GPU, both backends: real BVLC Caffe (CUDA, Python layer) and PyTorch (CUDA).
#
#   docker build -t fcn .
#   docker run --gpus all fcn                    # the demo: fcn demo --gpu 0
#   docker run --gpus all -v DATA:/data fcn python voc-fcn8s/solve.py --data-root /data --gpu 0 \
#       --out /data/runs/voc-fcn8s
#   docker run --gpus all -e FCN_BACKEND=caffe -v DATA:/data fcn python voc-fcn8s/solve.py ...
#
# Stage `caffe` builds BVLC Caffe at a pinned commit with scripts/build_pycaffe.sh --cuda;
# the final stage, on the CUDA runtime image, adds PyTorch and this repository.
# CUDA 13.0 is the toolkit this Caffe build compiles with (docs/docker.md); Ubuntu 24.04
# has protobuf 3.21, whose generated Python the protobuf 7 runtime still loads
# (22.04's protobuf 3.12 generates code that it refuses).
ARG CUDA=13.0.1
ARG UBUNTU=24.04

FROM nvidia/cuda:${CUDA}-devel-ubuntu${UBUNTU} AS caffe
# The last commit of BVLC/caffe's master branch (2020-02-12).
ARG CAFFE_COMMIT=9b891540183ddc834a02b2bd81b31afae71b2153
ENV DEBIAN_FRONTEND=noninteractive
# python3-dev: Caffe's Python layer compiles against Python.h.
RUN apt-get update && apt-get install -y --no-install-recommends \
        ca-certificates git python3-dev python3-venv \
    && rm -rf /var/lib/apt/lists/*
# pycaffe is compiled against this environment's Python and numpy; the final stage reuses it.
RUN python3 -m venv /opt/venv && /opt/venv/bin/pip install --no-cache-dir "numpy>=1.23"
RUN git clone https://github.com/BVLC/caffe.git /opt/caffe-src \
    && git -C /opt/caffe-src checkout --detach ${CAFFE_COMMIT}
COPY scripts/build_pycaffe.sh /opt/build_pycaffe.sh
RUN /opt/build_pycaffe.sh --source /opt/caffe-src --cuda --python /opt/venv/bin/python \
        --prefix /opt/pycaffe \
    && rm -rf /opt/caffe-src /var/lib/apt/lists/*
# The packages holding the shared libraries Caffe loads: the final stage installs them.
RUN ldd /opt/pycaffe/lib/libcaffe.so* /opt/pycaffe/python/caffe/_caffe.so \
        | awk '$3 ~ /^\// {print $3}' | xargs readlink -f | xargs dpkg -S 2>/dev/null \
        | cut -d: -f1 | sort -u >/opt/pycaffe/packages.txt

FROM nvidia/cuda:${CUDA}-runtime-ubuntu${UBUNTU}
ENV DEBIAN_FRONTEND=noninteractive
COPY --from=caffe /opt/pycaffe /opt/pycaffe
COPY --from=caffe /opt/venv /opt/venv
RUN apt-get update && apt-get install -y --no-install-recommends \
        python3 $(cat /opt/pycaffe/packages.txt) \
    && rm -rf /var/lib/apt/lists/*
# fcn/backend.py finds pycaffe through FCN_PYCAFFE_PREFIX (FCN_BACKEND=caffe selects it).
ENV PATH=/opt/venv/bin:$PATH FCN_PYCAFFE_PREFIX=/opt/pycaffe GLOG_minloglevel=2
# PyTorch's CUDA 13.0 build, the version scripts/setup.sh installs.
ARG TORCH=torch==2.13.0
RUN pip install --no-cache-dir "${TORCH}" --index-url https://download.pytorch.org/whl/cu130
WORKDIR /fcn
COPY . /fcn
RUN pip install --no-cache-dir -e "/fcn[test]" \
    && python -c "import torch, torchcaffe" \
    && FCN_BACKEND=caffe python -c "from fcn import backend; backend.load()"
CMD ["fcn", "demo", "--gpu", "0"]
