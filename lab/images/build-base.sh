#!/usr/bin/env bash
# Builds the debian:bookworm base image offline: debootstrap a minbase rootfs from
# the Debian mirror and import it, with the apt sources of the public image, so
# that the lab's ordinary Dockerfiles (FROM debian:bookworm) build without a registry.
set -euo pipefail
cache="${SRE_CACHE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/.cache}"
rootfs="$cache/rootfs-bookworm"
mirror="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"
rm -rf "$rootfs"
mkdir -p "$cache"
debootstrap --variant=minbase bookworm "$rootfs" "$mirror" >"$cache/debootstrap.log" 2>&1 \
    || { tail -20 "$cache/debootstrap.log" >&2; exit 1; }
rm -f "$rootfs/etc/apt/sources.list"
cat > "$rootfs/etc/apt/sources.list.d/debian.sources" <<SRC
Types: deb
URIs: $mirror
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://deb.debian.org/debian-security
Suites: bookworm-security
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/*
tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - debian:bookworm >/dev/null
rm -rf "$rootfs"
echo "imported debian:bookworm"
