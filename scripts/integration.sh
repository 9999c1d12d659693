#!/usr/bin/env bash
# `make integration`: the end-to-end tests on the lab, by the hosts they touch. The
# O4O hosts' tests and the compose host's tests share no host, so they run side by
# side (two pytest runs, each logged to .cache/integration/<group>.log and printed
# when both are done); then the tests that look at every host run alone. Every test
# runs; the exit status is non-zero if any group failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

logs=.cache/integration
mkdir -p "$logs"

run_group() {  # run_group <marker> <log>
    pytest tests/integration -m "$1" --basetemp="$logs/tmp-$1" --durations=12 -p no:cacheprovider >"$2" 2>&1
}

declare -A pids=() status=() took=()
start=$SECONDS
for group in hosts_o4o hosts_compose; do
    run_group "$group" "$logs/$group.log" &
    pids[$group]=$!
done
running() { kill -0 "${pids[hosts_o4o]}" 2>/dev/null || kill -0 "${pids[hosts_compose]}" 2>/dev/null; }
while running; do  # a line a minute; the logs come whole at the end
    for _ in {1..12}; do running && sleep 5; done
    busy=$(for g in hosts_o4o hosts_compose; do kill -0 "${pids[$g]}" 2>/dev/null && printf '%s ' "$g"; done)
    [ -z "$busy" ] || printf 'integration: %d s, still running: %s\n' "$((SECONDS - start))" "$busy"
done
for group in hosts_o4o hosts_compose; do
    wait "${pids[$group]}"
    status[$group]=$?
    printf '\n######## integration, %s ########\n' "$group"
    cat "$logs/$group.log"
done
took[side-by-side]=$((SECONDS - start))

start=$SECONDS
printf '\n######## integration, exclusive ########\n'
pytest tests/integration -m exclusive --basetemp="$logs/tmp-exclusive" --durations=6 -p no:cacheprovider
status[exclusive]=$?
took[exclusive]=$((SECONDS - start))

printf '\nintegration: side by side %s s, exclusive %s s; exit status %s\n' "${took[side-by-side]}" \
    "${took[exclusive]}" "$(for g in hosts_o4o hosts_compose exclusive; do printf '%s=%s ' "$g" "${status[$g]}"; done)"
for group in hosts_o4o hosts_compose exclusive; do
    [ "${status[$group]}" -eq 0 ] || exit 1
done
