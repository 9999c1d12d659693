#!/usr/bin/env bash
# Installs what this collection's tests and lab need on a Debian bookworm machine,
# and starts what must run. Idempotent: every step checks first, so a second run
# takes seconds. Usage: scripts/setup.sh [host|venv|docker|images|all]
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

APT_PACKAGES=(docker.io debootstrap iptables rsync openssh-client git make curl
              ca-certificates xz-utils nginx-light postgresql-15 redis-server apache2-utils shellcheck
              prometheus prometheus-alertmanager openjdk-17-jre-headless)

install_host_packages() {
    local missing=()
    for pkg in "${APT_PACKAGES[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q 'ok installed' || missing+=("$pkg")
    done
    if [ ${#missing[@]} -gt 0 ]; then
        step "Installing Debian packages: ${missing[*]}"
        [ -e /usr/sbin/policy-rc.d ] || { printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod 0755 /usr/sbin/policy-rc.d; }
        apt-get -o Acquire::Retries=5 update -q >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get -o Acquire::Retries=5 install -y -q --no-install-recommends "${missing[@]}" >/dev/null
    fi
}

install_compose_plugin() {
    docker compose version >/dev/null 2>&1 && return 0
    step "Installing the Docker Compose v2 plugin (from Debian trixie's docker-compose)"
    local tmp; tmp=$(mktemp -d)
    mkdir -p "$tmp/etc/sources.list.d" "$tmp/etc/preferences.d" "$tmp/lists/partial" "$tmp/cache/archives/partial"
    cat > "$tmp/etc/sources.list.d/trixie.sources" <<SRC
Types: deb
URIs: http://deb.debian.org/debian
Suites: trixie
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
SRC
    local opts=(-o Dir::Etc::SourceList=/dev/null -o Dir::Etc::SourceParts="$tmp/etc/sources.list.d"
                -o Dir::Etc::Preferences=/dev/null -o Dir::Etc::PreferencesParts="$tmp/etc/preferences.d"
                -o Dir::State::Lists="$tmp/lists" -o Dir::Cache="$tmp/cache" -o Acquire::Retries=5)
    apt-get "${opts[@]}" update -q >/dev/null 2>&1
    (cd "$tmp" && apt-get "${opts[@]}" download docker-compose >/dev/null 2>&1)
    dpkg-deb -x "$tmp"/docker-compose_*.deb "$tmp/x"
    install -D -m 0755 "$tmp/x/usr/libexec/docker/cli-plugins/docker-compose" \
        /usr/local/lib/docker/cli-plugins/docker-compose
    rm -rf "$tmp"
    docker compose version >/dev/null
}

start_docker() {
    docker info >/dev/null 2>&1 && return 0
    step "Starting dockerd (no Docker engine answered)"
    mkdir -p "$CACHE_DIR"
    setsid dockerd --pidfile "$CACHE_DIR/dockerd.pid" >"$CACHE_DIR/dockerd.log" 2>&1 </dev/null &
    for _ in $(seq 1 30); do docker info >/dev/null 2>&1 && return 0; sleep 1; done
    die "dockerd did not answer within 30 s; see $CACHE_DIR/dockerd.log"
}

make_venv() {
    local stamp="$VENV/.requirements.sha256" want
    want=$(sha256sum requirements.txt | cut -d' ' -f1)
    [ -x "$VENV/bin/ansible-playbook" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ] && return 0
    local py; py=$(find_python) || die "no Python >= 3.12 found (ansible-core 2.21 needs it); install python3.12"
    step "Building the controller venv in $VENV with $py"
    [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV"
    "$VENV/bin/pip" install -q --disable-pip-version-check -r requirements.txt 2>&1 | grep -v '^WARNING: Location' || true
    "$VENV/bin/ansible-playbook" --version >/dev/null
    echo "$want" > "$stamp"
}

build_images() {
    mkdir -p lab/images/systemd/local-ca
    # Trust the CAs this machine trusts locally (an egress proxy's), nothing more.
    find lab/images/systemd/local-ca -name '*.crt' -delete
    cp /usr/local/share/ca-certificates/*.crt lab/images/systemd/local-ca/ 2>/dev/null || true
    if ! docker image inspect debian:bookworm >/dev/null 2>&1; then
        step "Building the debian:bookworm base image offline (debootstrap)"
        lab/images/build-base.sh
    fi
    # The compose host runs this machine's own docker CLI and compose plugin.
    install -D -m 0755 "$(command -v docker)" lab/images/compose/bin/docker
    install -D -m 0755 /usr/local/lib/docker/cli-plugins/docker-compose lab/images/compose/bin/docker-compose
    local image
    for image in systemd api refit web compose stack; do
        step "Building image sre-runbooks/lab-$image"
        docker build -q -t "sre-runbooks/lab-$image:latest" "lab/images/$image" >/dev/null
    done
}

case "${1:-all}" in
    host) install_host_packages ;;
    venv) make_venv ;;
    docker) install_host_packages; start_docker; install_compose_plugin ;;
    images) start_docker; install_compose_plugin; build_images ;;
    all) install_host_packages; start_docker; install_compose_plugin; make_venv; build_images ;;
    *) die "usage: $0 [host|venv|docker|images|all]" ;;
esac
