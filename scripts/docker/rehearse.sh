#!/usr/bin/env bash
# Rehearse the documented Docker use on a machine without Docker: build the image
# from this repository's Dockerfile (CPU flavour, on a Debian bookworm base made
# here with debootstrap) with podman, then run the demo in it with `podman run` as a
# non-root user with a mounted output directory, and check its mean IU and files.
#
#   scripts/docker/rehearse.sh [--fresh] [--keep]
#
# Needs root (or sudo) on Debian/Ubuntu with Debian's mirror and PyPI reachable;
# installs podman, runc and debootstrap with apt. PyTorch's CPU wheel comes from the
# machine's pip configuration (its find-links), and pip in the build trusts the CA
# bundle pip is configured with (its cert). Idempotent: the base image and podman's
# layer cache are reused; --fresh removes them first (a fresh machine's timing).
# Work dir: $FCN_REHEARSE_DIR (default /var/tmp/fcn-rehearse); the demo's output
# stays there with --keep. Prints the time of each phase at the end.
set -euo pipefail
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
work=${FCN_REHEARSE_DIR:-/var/tmp/fcn-rehearse}
base_image=localhost/fcn-base:bookworm
image=localhost/fcn:cpu-rehearsal
run_uid=4242   # any non-root uid without an account: --user $(id -u):$(id -g) is like that
min_iu=0.7
fresh=0 keep=0
for arg in "$@"; do
    case $arg in
        --fresh) fresh=1 ;;
        --keep) keep=1 ;;
        -h|--help) sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "$0"; exit 0 ;;
        *) echo "rehearse: unknown argument: $arg" >&2; exit 2 ;;
    esac
done

phase=setup
say() { echo "rehearse [$phase]: $*"; }
die() { echo "rehearse [$phase]: FAILED: $*" >&2; exit 1; }
trap 'rc=$?; [ $rc = 0 ] || echo "rehearse [$phase]: FAILED (exit $rc) at line $LINENO: $BASH_COMMAND" >&2' EXIT
sudo=; [ "$(id -u)" = 0 ] || sudo=sudo
times=()
timed() {  # timed NAME COMMAND...: run it, record its seconds
    local start=$SECONDS
    "${@:2}"
    times+=("$1 $((SECONDS - start)) s")
}

# --- What the machine provides: pip's CA bundle and PyTorch's CPU wheel ------------
pip_setting() {  # the value pip would use for $1 (environment first, then its config files)
    local env_name=PIP_$(echo "$1" | tr a-z- A-Z_)
    if [ -n "${!env_name:-}" ]; then echo "${!env_name}"; return; fi
    python3 -m pip config list 2>/dev/null | sed -n "s/^[^.]*\.$1='\(.*\)'\$/\1/p" | tail -n 1
}
cert=$(pip_setting cert)
[ -n "$cert" ] || cert=/etc/ssl/certs/ca-certificates.crt
[ -f "$cert" ] || die "CA bundle $cert not found (pip's cert setting)"
wheel=
for dir in $(pip_setting find-links); do
    wheel=$(ls "$dir"/torch-*+cpu-cp311-*linux*x86_64.whl 2>/dev/null | sort -V | tail -n 1)
    [ -n "$wheel" ] && break
done
[ -n "$wheel" ] || die "no PyTorch CPU wheel for Python 3.11 (bookworm's) in pip's find-links ($(pip_setting find-links))"
torch_version=$(basename "$wheel" | cut -d- -f2)
say "CA bundle $cert; PyTorch wheel $wheel"

# --- Tools ------------------------------------------------------------------------------
install_tools() {
    local missing=() p
    for p in podman runc debootstrap; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        say "apt-get install ${missing[*]}"
        $sudo apt-get update -q >/dev/null
        $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
            "${missing[@]}" >/dev/null || die "apt-get install ${missing[*]}"
    else
        say "podman, runc, debootstrap installed"
    fi
}
phase=tools
timed tools install_tools
mkdir -p "$work"
# podman's settings for this machine, in a file of our own (not /etc/containers): runc with
# cgroupfs (no systemd here), and no default ulimits (raising nofile is refused here).
cat >"$work/containers.conf" <<'CONF'
[containers]
default_ulimits = []
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
CONF
export CONTAINERS_CONF=$work/containers.conf
podman() { $sudo env CONTAINERS_CONF="$CONTAINERS_CONF" podman --cgroup-manager cgroupfs "$@"; }

if [ "$fresh" = 1 ]; then
    phase=base
    say "--fresh: removing $image, $base_image and podman's build cache"
    podman rmi -f "$image" "$base_image" >/dev/null 2>&1 || true
    podman image prune -af >/dev/null 2>&1 || true
fi

# --- Base image: Debian bookworm from the mirror -----------------------------------------
make_base() {
    if podman image exists "$base_image"; then
        say "$base_image exists"
        return
    fi
    local rootfs=$work/rootfs
    $sudo rm -rf "$rootfs"
    say "debootstrap bookworm -> $rootfs"
    $sudo debootstrap --variant=minbase bookworm "$rootfs" http://deb.debian.org/debian \
        >"$work/debootstrap.log" 2>&1 || { tail -n 20 "$work/debootstrap.log" >&2; die "debootstrap (log: $work/debootstrap.log)"; }
    $sudo rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    say "podman import -> $base_image"
    $sudo tar -C "$rootfs" -c . | podman import - "$base_image" >"$work/import.log" 2>&1 || die "podman import (log: $work/import.log)"
    $sudo rm -rf "$rootfs"
}
phase=base
timed base make_base

# --- Build ------------------------------------------------------------------------------
# pip inside the build: the machine's CA bundle at a path of its own (the image's
# ca-certificates owns /etc/ssl/certs), the wheel directory mounted read-only.
cat >"$work/pip.conf" <<CONF
[global]
cert = /run/fcn-host-ca.crt
find-links = /run/fcn-wheels
CONF
build() {
    say "podman build -> $image (log: $work/build.log)"
    podman build --network=host -f "$root/Dockerfile" -t "$image" \
        --build-arg FLAVOUR=cpu --build-arg BASE="$base_image" \
        --build-arg TORCH="torch==$torch_version" --build-arg TORCH_INDEX= \
        -v "$cert:/run/fcn-host-ca.crt:ro" -v "$(dirname "$wheel"):/run/fcn-wheels:ro" \
        -v "$work/pip.conf:/etc/pip.conf:ro" \
        "$root" >"$work/build.log" 2>&1 || { tail -n 30 "$work/build.log" >&2; die "podman build (log: $work/build.log)"; }
    say "image size: $(podman image inspect --format '{{.Size}}' "$image" | awk '{printf "%.2f GB", $1/1e9}')"
}
phase=build
timed build build

# --- Run the demo as the documentation says, as a non-root user ----------------------------
out=$work/out
run_demo() {
    $sudo rm -rf "$out"
    mkdir -p "$out"
    $sudo chown "$run_uid:$run_uid" "$out"
    say "podman run --user $run_uid:$run_uid -v $out:/out $image (the default command; log: $work/run.log)"
    podman run --rm --user "$run_uid:$run_uid" -v "$out:/out" "$image" >"$work/run.log" 2>&1 \
        || { tail -n 30 "$work/run.log" >&2; die "podman run (log: $work/run.log)"; }
}
phase=run
timed run run_demo

# --- Checks -------------------------------------------------------------------------------
phase=check
grep -q 'fcn-docker: no GPU visible' "$work/run.log" || die "no CPU fallback message in $work/run.log"
iu=$(sed -n 's/^demo: .*mean IU \([0-9.]*\) .*/\1/p' "$work/run.log")
[ -n "$iu" ] || die "no 'mean IU' line in $work/run.log"
awk -v iu="$iu" -v min="$min_iu" 'BEGIN { exit !(iu >= min) }' || die "mean IU $iu < $min_iu"
run_dir=$(ls -d "$out"/demo-* 2>/dev/null | head -n 1)
[ -n "$run_dir" ] || die "no demo-* directory in $out"
for f in train/log.jsonl train/train_iter_500.caffemodel net/deploy.prototxt; do
    [ -s "$run_dir/$f" ] || die "missing $run_dir/$f"
done
ls "$run_dir"/train/charts/*.png >/dev/null 2>&1 || die "no charts in $run_dir/train/charts"
[ "$(ls "$run_dir"/predictions/*.png 2>/dev/null | wc -l)" -ge 12 ] || die "fewer than 12 predictions in $run_dir/predictions"
owners=$(find "$out" -printf '%u\n' | sort -u | tr '\n' ' ')
[ "$owners" = "$run_uid " ] || die "files in $out owned by $owners, not only $run_uid"
say "mean IU $iu >= $min_iu; log, snapshot, charts and predictions in $run_dir, owned by uid $run_uid"
[ "$keep" = 1 ] || $sudo rm -rf "$out"

phase=done
say "passed; times: $(IFS=,; echo "${times[*]}" | sed 's/,/, /g')"
printf '%s\n' "${times[@]}" "mean_iu $iu" >"$work/times.txt"
