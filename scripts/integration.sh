#!/usr/bin/env bash
# `make integration`: the end-to-end tests on the lab, by the hosts they touch. The
# O4O hosts' tests, the compose host's and the Re-Fit host's share no host, so they run
# side by side (three pytest runs, each logged to .cache/integration/<group>.log and
# printed when all are done); then the tests that look at every host run alone. Every
# test runs; the exit status is non-zero if any group failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

logs=.cache/integration
mkdir -p "$logs"
groups=(hosts_o4o hosts_compose hosts_refit)
lab/lab.sh up || exit 1  # once, before the runs side by side (tests/integration/conftest.py: lab)
export SRE_LAB_READY=1

run_group() {  # run_group <marker> <log>
    local took=$SECONDS rc
    pytest tests/integration -m "$1" --basetemp="$logs/tmp-$1" --durations=12 -p no:cacheprovider >"$2" 2>&1
    rc=$?
    printf '%s: %d s\n' "$1" "$((SECONDS - took))" >>"$2"
    return "$rc"
}

declare -A pids=() status=() took=()
start=$SECONDS
for group in "${groups[@]}"; do
    run_group "$group" "$logs/$group.log" &
    pids[$group]=$!
done
busy() { for g in "${groups[@]}"; do kill -0 "${pids[$g]}" 2>/dev/null && printf '%s ' "$g"; done; }
while [ -n "$(busy)" ]; do  # a line a minute; the logs come whole at the end
    for _ in {1..12}; do [ -n "$(busy)" ] && sleep 5; done
    still=$(busy)
    [ -z "$still" ] || printf 'integration: %d s, still running: %s\n' "$((SECONDS - start))" "$still"
done
for group in "${groups[@]}"; do
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
    "${took[exclusive]}" "$(for g in "${groups[@]}" exclusive; do printf '%s=%s ' "$g" "${status[$g]}"; done)"
for group in "${groups[@]}" exclusive; do
    [ "${status[$group]}" -eq 0 ] || exit 1
done
