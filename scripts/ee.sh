#!/usr/bin/env bash
# The execution environment (execution-environment.yml) that AWX runs the job templates in.
#   scripts/ee.sh build   build sre-runbooks/ee:latest, unless an image built from the same
#                         inputs exists already (label sre.runbooks.ee.inputs)
#   scripts/ee.sh base    (re)build the offline base image sre-runbooks/ee-base:trixie
#   scripts/ee.sh inputs  print the hash of the inputs
# EE_BASE_IMAGE=<image> builds on a registry image instead of the offline base
# (docs/execution_environment.md); EE_NO_CACHE=1 builds without Docker's layer cache.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

EE_IMAGE="${EE_IMAGE:-sre-runbooks/ee:latest}"
OFFLINE_BASE=sre-runbooks/ee-base:trixie
EE_BASE_IMAGE="${EE_BASE_IMAGE:-$OFFLINE_BASE}"
# Fixed: execution-environment.yml names .cache/ee/collections relative to itself.
EE_DIR="$PWD/.cache/ee"
MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
# The collections the EE carries besides sre.runbooks: galaxy.yml's dependencies, the
# callback ansible.cfg enables (ansible.posix), the S3 backup store (amazon.aws) and
# kubernetes.core for the PlayCode runbooks.
DEPENDENCIES=(community.docker community.general community.postgresql ansible.posix amazon.aws kubernetes.core)

# What the image is built from: this script, the EE definition, the pins, and the files
# of the collection that run (not its docs).
inputs_hash() {
    {
        printf '%s\n' "$EE_BASE_IMAGE" "${DEPENDENCIES[@]}"
        git ls-files -z --cached --others --exclude-standard -- \
                execution-environment.yml scripts/ee.sh requirements.txt galaxy.yml meta plugins roles playbooks \
            | sort -z | xargs -0 sha256sum
    } | sha256sum | cut -c1-16
}

build_base() {
    local rootfs="$EE_DIR/rootfs-trixie" old
    old=$(docker images -q "$OFFLINE_BASE")
    step "Building $OFFLINE_BASE offline (debootstrap minbase trixie from $MIRROR)"
    rm -rf "$rootfs"
    mkdir -p "$EE_DIR"
    debootstrap --variant=minbase trixie "$rootfs" "$MIRROR" >"$EE_DIR/debootstrap.log" 2>&1 \
        || { tail -20 "$EE_DIR/debootstrap.log" >&2; die "debootstrap trixie failed"; }
    rm -f "$rootfs/etc/apt/sources.list"
    cat >"$rootfs/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $MIRROR
Suites: trixie trixie-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    # This machine's own CAs (a TLS-inspecting proxy's, if any), as the lab images take
    # them: the ca-certificates package that the EE installs adds them to the bundle.
    mkdir -p "$rootfs/usr/local/share/ca-certificates"
    cp /usr/local/share/ca-certificates/*.crt "$rootfs/usr/local/share/ca-certificates/" 2>/dev/null || true
    rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
    tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$OFFLINE_BASE" >/dev/null
    rm -rf "$rootfs"
    drop_replaced "$old" "$OFFLINE_BASE"
}

# .cache/ee/collections: sre.runbooks from its tarball (what a user installs) and the
# dependencies copied from the venv's pinned `ansible` bundle (Galaxy is unreachable).
stage_collections() {
    local out="$EE_DIR/collections" installed name
    installed=$("$VENV/bin/python" -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')/ansible_collections
    rm -rf "$out" "$EE_DIR/tarball"
    mkdir -p "$out/ansible_collections" "$EE_DIR/tarball"
    "$VENV/bin/ansible-galaxy" collection build --force --output-path "$EE_DIR/tarball" . >/dev/null
    # Away from the checkout's ansible.cfg, whose collections path already has sre.runbooks.
    printf '[defaults]\n' >"$EE_DIR/ansible.cfg"
    ANSIBLE_CONFIG="$EE_DIR/ansible.cfg" ANSIBLE_COLLECTIONS_PATH="$out" "$VENV/bin/ansible-galaxy" collection install \
        --force --offline --no-deps -p "$out" "$EE_DIR"/tarball/sre-runbooks-*.tar.gz >"$EE_DIR/galaxy.log" 2>&1 || true
    [ -f "$out/ansible_collections/sre/runbooks/MANIFEST.json" ] \
        || { cat "$EE_DIR/galaxy.log" >&2; die "installing the collection tarball failed"; }
    for name in "${DEPENDENCIES[@]}"; do
        mkdir -p "$out/ansible_collections/${name%%.*}"
        cp -a "$installed/${name/.//}" "$out/ansible_collections/${name%%.*}/"
    done
    find "$out" -name __pycache__ -prune -exec rm -rf {} +
}

# Removes the image a new build replaced (now untagged), so rebuilds do not pile up.
drop_replaced() {  # drop_replaced <old image id> <tag>
    [ -n "$1" ] && [ "$1" != "$(docker images -q "$2")" ] || return 0
    docker rmi "$1" >/dev/null 2>&1 || true
}

build() {
    local hash old start=$SECONDS
    hash=$(inputs_hash)
    if [ -n "$(docker images -q --filter "label=sre.runbooks.ee.inputs=$hash" "$EE_IMAGE")" ]; then
        step "$EE_IMAGE is up to date (inputs $hash)"
        return 0
    fi
    if [ "$EE_BASE_IMAGE" = "$OFFLINE_BASE" ] && [ -z "$(docker images -q "$OFFLINE_BASE")" ]; then
        build_base
    fi
    old=$(docker images -q "$EE_IMAGE")
    step "Staging the collections"
    stage_collections
    step "Building $EE_IMAGE on $EE_BASE_IMAGE (inputs $hash)"
    "$VENV/bin/ansible-builder" build --file execution-environment.yml --context "$EE_DIR/context" \
        --container-runtime docker --tag "$EE_IMAGE" --build-arg "EE_BASE_IMAGE=$EE_BASE_IMAGE" \
        --extra-build-cli-args "--label sre.runbooks.ee.inputs=$hash" ${EE_NO_CACHE:+--no-cache} --verbosity 2 >"$EE_DIR/build.log" 2>&1 \
        || { tail -40 "$EE_DIR/build.log" >&2; die "ansible-builder failed (log: $EE_DIR/build.log)"; }
    drop_replaced "$old" "$EE_IMAGE"
    step "Built $EE_IMAGE in $((SECONDS - start)) s, $(docker image inspect -f '{{.Size}}' "$EE_IMAGE" | awk '{printf "%d MB", $1 / 1e6}')"
}

case "${1:-build}" in
    build) build ;;
    base) build_base ;;
    inputs) inputs_hash ;;
    *) die "usage: $0 [build|base|inputs]" ;;
esac
