#!/usr/bin/env bash
# Brings the lab up or down. `up` starts the hosts, installs the controller's lab SSH
# key for user ubuntu, waits until SSH, PostgreSQL, pm2 and nginx answer, and brings
# up the QA-Arena and Fragrance AI compose stacks on the compose host; `down` removes
# the containers, the stacks' volumes and the network.
# Usage: lab/lab.sh up|down|status
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

KEY="$LAB_DIR/ssh/id_ed25519"
COMPOSE=(docker compose -f lab/compose.yml)
HOSTS=(api web compose)
STACK_HOST=sre-lab-compose

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
    stacks_up
    step "Lab is up: api $(address api), web $(address web), compose $(address compose) (ssh key $KEY)"
}

on_stack_host() {  # on_stack_host <command...>: run as ubuntu in the compose host
    docker exec -i -u ubuntu "$STACK_HOST" "$@"
}

# stack_up <stack> <project dir> <app subdir> <compose file> <postgres container> <db user> <db>
stack_up() {
    local stack=$1 dir=$2 appdir=$3 file=$4 postgres=$5 user=$6 db=$7
    on_stack_host bash /tmp/sre-stacks/make-project.sh "$stack" "$dir" "$appdir"
    on_stack_host sh -c "cd $dir && { [ -f .env ] || echo 'VERSION=v0.2.0' > .env; } \
        && { docker image inspect sre-lab/fragrance-app:v0.1.0 >/dev/null 2>&1 || [ $stack != fragrance ] \
             || VERSION=v0.1.0 docker compose -f $file build -q app; } \
        && docker compose -f $file --env-file .env up -d --build --wait --quiet-pull" >/dev/null 2>&1 \
        || die "lab: the $stack stack did not come up healthy (see: docker compose -f $dir/$file ps on $STACK_HOST)"
    docker exec -i -e PGOPTIONS="-c client_min_messages=warning" "$postgres" psql -q -U "$user" -d "$db" < lab/stacks/seed.sql >/dev/null
}

stacks_up() {
    step "Bringing up the QA-Arena and Fragrance AI compose stacks"
    # ubuntu runs docker as on the runbooks' hosts: via the group that owns the socket.
    docker exec "$STACK_HOST" sh -c 'gid=$(stat -c %g /var/run/docker.sock); \
        getent group "$gid" >/dev/null || groupadd -g "$gid" docker-host; \
        usermod -aG "$(getent group "$gid" | cut -d: -f1)" ubuntu'
    # /tmp is a tmpfs, which docker cp cannot write to: unpack a tar stream instead.
    docker exec "$STACK_HOST" sh -c 'rm -rf /tmp/sre-stacks && mkdir /tmp/sre-stacks'
    tar -C lab/stacks -c . | docker exec -i "$STACK_HOST" tar -C /tmp/sre-stacks -x
    docker exec "$STACK_HOST" chown -R ubuntu:ubuntu /tmp/sre-stacks /srv/git /backup
    docker exec "$STACK_HOST" install -d -m 0755 /etc/letsencrypt/live/qa-arena.qalabs.kr
    docker exec "$STACK_HOST" sh -c 'cd /etc/letsencrypt/live/qa-arena.qalabs.kr && [ -f fullchain.pem ] \
        || openssl req -x509 -newkey rsa:2048 -nodes -days 90 -subj /CN=qa-arena.qalabs.kr \
             -keyout privkey.pem -out fullchain.pem 2>/dev/null'
    stack_up qa_arena /home/ubuntu/qa_labs backend docker-compose.prod.yml qa_arena_postgres_prod qa_arena qa_arena
    stack_up fragrance /home/ubuntu/fragrance-ai app docker-compose.production.yml fragrance-ai-postgres-1 fragrance_user fragrance_ai
}

address() {
    docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}' "sre-lab-$1"
}

down() {
    step "Removing lab hosts and network"
    "${COMPOSE[@]}" down --remove-orphans --timeout 20 >/dev/null 2>&1 || true
    # Containers made by the stacks, molecule or tests of this project carry the same label.
    docker ps -aq --filter label=sre.runbooks.lab | xargs -r docker rm -f >/dev/null
    docker volume ls -q --filter label=sre.runbooks.lab | xargs -r docker volume rm >/dev/null
    local project
    for project in qa_labs fragrance-ai; do  # the stacks' own default networks
        docker network ls -q --filter "label=com.docker.compose.project=$project" | xargs -r docker network rm >/dev/null
    done
    docker network ls -q --filter label=sre.runbooks.lab | xargs -r docker network rm >/dev/null
}

status() { "${COMPOSE[@]}" ps; }

case "${1:-}" in
    up) up ;;
    down) down ;;
    status) status ;;
    *) die "usage: $0 up|down|status" ;;
esac
