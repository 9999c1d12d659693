#!/usr/bin/env bash
# Brings the O4O lab up or down. `up` starts the hosts, installs the controller's
# lab SSH key for user ubuntu and waits until SSH, PostgreSQL, pm2 and nginx answer;
# `down` removes the containers and the network. Usage: lab/lab.sh up|down|status
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

KEY="$LAB_DIR/ssh/id_ed25519"
COMPOSE=(docker compose -f lab/compose.yml)
HOSTS=(api web)

wait_for() {  # wait_for <seconds> <description> <command...>
    local limit=$1 what=$2; shift 2
    for _ in $(seq 1 "$limit"); do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
    die "lab: $what did not come up within ${limit} s"
}

up() {
    mkdir -p "$LAB_DIR/ssh"
    [ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C sre-runbooks-lab -f "$KEY"
    step "Starting lab hosts: ${HOSTS[*]}"
    "${COMPOSE[@]}" up -d --quiet-pull >/dev/null 2>&1
    local host
    for host in "${HOSTS[@]}"; do
        wait_for 60 "systemd on $host" docker exec "sre-lab-$host" systemctl is-system-running
        docker exec -i "sre-lab-$host" install -o ubuntu -g ubuntu -m 0600 /dev/stdin \
            /home/ubuntu/.ssh/authorized_keys < "$KEY.pub"
    done
    wait_for 60 "the api-server health check" docker exec sre-lab-api \
        curl -fsS http://127.0.0.1:4000/api/health
    wait_for 30 "nginx on web" docker exec sre-lab-web curl -fsS http://127.0.0.1/api/health
    for host in "${HOSTS[@]}"; do
        wait_for 30 "SSH to $host" ssh -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no \
            -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=2 \
            "ubuntu@$(address "$host")" true
    done
    step "Lab is up: api $(address api), web $(address web) (ssh key $KEY)"
}

address() {
    docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "sre-lab-$1"
}

down() {
    step "Removing lab hosts and network"
    "${COMPOSE[@]}" down --remove-orphans --timeout 20 >/dev/null 2>&1 || true
    # Containers made by molecule or tests of this project carry the same label.
    docker ps -aq --filter label=sre.runbooks.lab | xargs -r docker rm -f >/dev/null
    docker network ls -q --filter label=sre.runbooks.lab | xargs -r docker network rm >/dev/null
}

status() { "${COMPOSE[@]}" ps; }

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) die "usage: $0 up|down|status" ;;
esac
