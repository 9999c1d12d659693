#!/usr/bin/env bash
# Brings the lab up or down. `up` starts the hosts, installs the controller's lab SSH
# key for user ubuntu, waits until SSH, PostgreSQL, pm2 and nginx answer, and brings
# up the QA-Arena and Fragrance AI compose stacks on the compose host, which also serves
# the O4O repository over git:// (the code host a rebuilt api host clones from); the
# backup host (the off-host backup store) gets the key like the others; the Re-Fit
# host (refit) gets it for user ec2-user, and up waits for its app's actuator health;
# `down` removes the containers, the stacks' volumes and the network.
# Usage: lab/lab.sh up|down|status|reset <host>
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh

KEY="$LAB_DIR/ssh/id_ed25519"
COMPOSE=(docker compose -f lab/compose.yml)
HOSTS=(api web refit spare backup compose)
STACK_HOST=sre-lab-compose

wait_for() {  # wait_for <seconds> <description> <command...>; on a timeout, runs $ON_TIMEOUT
    local limit=$1 what=$2; shift 2
    local deadline=$((SECONDS + limit))
    while [ "$SECONDS" -lt "$deadline" ]; do "$@" >/dev/null 2>&1 && return 0; sleep 1; done
    [ -z "${ON_TIMEOUT:-}" ] || "$ON_TIMEOUT" >&2
    die "lab: $what did not come up within ${limit} s"
}

describe_api_host() {  # what a timed-out api-server check needs explained, read-only
    echo "---- sre-lab-api: systemd, the units, pm2's log, the health answer ----"
    docker exec sre-lab-api systemctl is-system-running || true
    docker exec sre-lab-api systemctl --no-pager --lines=15 status postgresql@15-main pm2-ubuntu || true
    docker exec sre-lab-api sh -c 'tail -n 20 /home/ubuntu/.pm2/pm2.log /home/ubuntu/.pm2/logs/*' || true
    docker exec sre-lab-api curl -sS --max-time 5 http://127.0.0.1:4000/api/health || true
    echo
}

up() {
    mkdir -p "$LAB_DIR/ssh"
    [ -f "$KEY" ] || ssh-keygen -q -t ed25519 -N '' -C sre-runbooks-lab -f "$KEY"
    step "Starting lab hosts: ${HOSTS[*]}"
    "${COMPOSE[@]}" up -d --quiet-pull >/dev/null 2>&1
    local host
    for host in "${HOSTS[@]}"; do admit_controller "$host"; done
    # It answers in about 8 s here, even with the CPU saturated; 120 s is headroom, and a
    # timeout (once seen in CI, not reproduced) prints the api host's state.
    ON_TIMEOUT=describe_api_host wait_for 120 "the api-server health check" \
        docker exec sre-lab-api curl -fsS --max-time 5 http://127.0.0.1:4000/api/health
    wait_for 30 "nginx on web" docker exec sre-lab-web curl -fsS http://127.0.0.1/api/health
    wait_for_refit_app
    for host in "${HOSTS[@]}"; do wait_for_ssh "$host"; done
    stacks_up
    serve_o4o_repo
    step "Lab is up: api $(address api), web $(address web), refit $(address refit), spare $(address spare), backup $(address backup), compose $(address compose) (ssh key $KEY)"
}

describe_refit_host() {  # what a timed-out refit-api check needs explained, read-only
    echo "---- sre-lab-refit: systemd, pm2-ec2-user, pm2's log, the health answer ----"
    docker exec sre-lab-refit systemctl is-system-running || true
    docker exec sre-lab-refit systemctl --no-pager --lines=15 status pm2-ec2-user || true
    docker exec sre-lab-refit sh -c 'tail -n 20 /home/ec2-user/.pm2/pm2.log /var/log/app/application.log' || true
    docker exec sre-lab-refit curl -sS --max-time 5 http://127.0.0.1:8080/actuator/health || true
    echo
}

wait_for_refit_app() {  # refit-api's actuator health (its pm2 starts it in about 2 s)
    ON_TIMEOUT=describe_refit_host wait_for 60 "the refit-api health check" \
        docker exec sre-lab-refit curl -fsS --max-time 5 http://127.0.0.1:8080/actuator/health
}

login_user() {  # login_user <host>: the user the runbooks log in as (Re-Fit: ec2-user)
    case "$1" in refit) echo ec2-user ;; *) echo ubuntu ;; esac
}

admit_controller() {  # admit_controller <host>: wait for systemd, install the lab key
    local user
    user=$(login_user "$1")
    wait_for 60 "systemd on $1" docker exec "sre-lab-$1" systemctl is-system-running
    docker exec -i "sre-lab-$1" install -o "$user" -g "$user" -m 0600 /dev/stdin \
        "/home/$user/.ssh/authorized_keys" < "$KEY.pub"
}

wait_for_ssh() {
    wait_for 30 "SSH to $1" ssh -i "$KEY" -o BatchMode=yes -o StrictHostKeyChecking=no \
        -o UserKnownHostsFile=/dev/null -o LogLevel=ERROR -o ConnectTimeout=2 \
        "$(login_user "$1")@$(address "$1")" true
}

reset() {  # reset <host>: a new container from the image (the spare back to bare)
    step "Recreating lab host $1 from its image"
    "${COMPOSE[@]}" up -d --force-recreate --no-deps --quiet-pull "$1" >/dev/null 2>&1
    admit_controller "$1"
    wait_for_ssh "$1"
    [ "$1" != refit ] || wait_for_refit_app
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

serve_o4o_repo() {
    step "Serving the O4O repository at git://$(address compose)/o4o-platform.git"
    # The same commits and tags as the api host's checkout, as a bare repository.
    docker exec -u ubuntu sre-lab-api git -C /home/ubuntu/o4o-platform bundle create - --all 2>/dev/null \
        | on_stack_host sh -c 'rm -rf /srv/git/o4o-platform.git /tmp/o4o.bundle && cat > /tmp/o4o.bundle \
            && git clone -q --bare /tmp/o4o.bundle /srv/git/o4o-platform.git && rm /tmp/o4o.bundle'
    # shellcheck disable=SC2016  # expanded by the compose host's shell
    on_stack_host sh -c '[ -f /tmp/git-daemon.pid ] && kill -0 "$(cat /tmp/git-daemon.pid)" 2>/dev/null \
        || git daemon --detach --reuseaddr --export-all --base-path=/srv/git --pid-file=/tmp/git-daemon.pid /srv/git'
    wait_for 10 "git daemon on compose" git ls-remote "git://$(address compose)/o4o-platform.git"
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
    reset) reset "${2:?usage: $0 reset <host>}" ;;
    *) die "usage: $0 up|down|status|reset <host>" ;;
esac
