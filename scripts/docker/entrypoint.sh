#!/bin/sh
# The image's entrypoint: runs its arguments (default: fcn demo --gpu 0) after two
# adjustments that make the documented `docker run` lines work anywhere:
# - no GPU visible (no --gpus all, no NVIDIA Container Toolkit, or the CPU flavour):
#   a --gpu N argument is dropped with a message, so the command runs on the CPU;
# - an experiment's default output (<exp>/snapshot, a link into /out) gets its
#   directory, so solve.py without --out writes to the mounted /out.
set -eu
if [ $# -eq 0 ]; then set -- fcn demo; fi
gpu=
for arg in "$@"; do
    case $arg in --gpu|--gpu=*) gpu=1 ;; esac
done
if [ -n "$gpu" ] && ! python -c 'import sys, torch; sys.exit(not torch.cuda.is_available())' 2>/dev/null; then
    echo "fcn-docker: no GPU visible here (run with --gpus all on a host with the NVIDIA Container Toolkit); running on the CPU" >&2
    n=$#; skip=0
    while [ "$n" -gt 0 ]; do
        arg=$1; shift; n=$((n - 1))
        if [ "$skip" = 1 ]; then skip=0; continue; fi
        case $arg in
            --gpu) skip=1 ;;
            --gpu=*) ;;
            *) set -- "$@" "$arg" ;;
        esac
    done
fi
for arg in "$@"; do
    case $arg in
        */solve.py)
            link=/fcn/$(basename "$(dirname "$arg")")/snapshot
            if [ -L "$link" ]; then mkdir -p "$(readlink "$link")"; fi ;;
    esac
done
exec "$@"
