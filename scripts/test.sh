#!/usr/bin/env bash
# `make test`: every check, cheapest first, stopping at the first failure, then a
# summary of what ran and how long it took. The last stage removes the lab and
# proves that nothing of it is left. Stages joined by `+` run side by side (each
# logged to .cache/test/<stage>.log, printed whole when all are done): lint is one
# busy core, so sanity and the EE build take the other. SRE_TEST_STAGES runs a part,
# e.g. SRE_TEST_STAGES='setup lint+sanity+ee'.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
. scripts/lib.sh

read -r -a STAGES <<<"${SRE_TEST_STAGES:-setup lint+sanity+ee units molecule integration jobs drill bench-quick build lab-down}"
declare -A took=()
passed=0 failed=0 failed_stage=''
logs=.cache/test

verify_lab_gone() {
    local left
    left=$(docker ps -aq --filter label=sre.runbooks.lab; docker network ls -q --filter label=sre.runbooks.lab)
    [ -z "$left" ] || { echo "lab-down left these behind: $left" >&2; return 1; }
}

run_stage() {  # run_stage <stage>: make it; lab-down also proves the lab gone
    make --no-print-directory "$1" && { [ "$1" != lab-down ] || verify_lab_gone; }
}

record() {  # record <stage> <status> <seconds> [<note>]
    if [ "$2" -eq 0 ]; then
        passed=$((passed + 1))
        took[$1]="ok      $3 s${4:+  $4}"
    else
        failed=$((failed + 1))
        took[$1]="FAILED  $3 s${4:+  $4}"
        failed_stage=${failed_stage:-$1}
    fi
}

run_side_by_side() {  # run_side_by_side <stage> <stage> ...: all of them, then their logs
    local stage start=$SECONDS
    local -a ends=()
    local -A pids=()
    mkdir -p "$logs"
    for stage in "$@"; do
        rm -f "$logs/$stage.end"
        ( began=$SECONDS; run_stage "$stage"; rc=$?; echo "$rc $((SECONDS - began))" >"$logs/$stage.end"; exit "$rc" ) \
            >"$logs/$stage.log" 2>&1 &
        pids[$stage]=$!
    done
    for stage in "$@"; do
        wait "${pids[$stage]}"
        printf '\n######## make %s (side by side with: %s) ########\n' "$stage" "$*"
        cat "$logs/$stage.log"
        read -r -a ends <"$logs/$stage.end" 2>/dev/null || ends=(1 0)
        record "$stage" "${ends[0]}" "${ends[1]}" "(side by side)"
    done
    printf 'side by side: %s in %d s\n' "$*" "$((SECONDS - start))"
}

for group in "${STAGES[@]}"; do
    IFS=+ read -r -a parts <<<"$group"
    if [ "${#parts[@]}" -gt 1 ]; then
        run_side_by_side "${parts[@]}"
    else
        printf '\n######## make %s ########\n' "$group"
        start=$SECONDS
        run_stage "$group"
        record "$group" $? "$((SECONDS - start))"
    fi
    [ -z "$failed_stage" ] || break
done

printf '\n######## summary ########\n'
for group in "${STAGES[@]}"; do
    IFS=+ read -r -a parts <<<"$group"
    for stage in "${parts[@]}"; do
        printf '%-12s %s\n' "$stage" "${took[$stage]:-not run}"
    done
done
printf 'total        %s s\n' "$SECONDS"
printf 'stages: %d passed, %d failed\n' "$passed" "$failed"
[ -z "$failed_stage" ] || { echo "make test failed at: make $failed_stage" >&2; exit 1; }
