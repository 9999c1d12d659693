#!/usr/bin/env bash
# `make test`: every check, cheapest first, stopping at the first failure, then a
# summary of what ran and how long it took. The last stage removes the lab and
# proves that nothing of it is left.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
. scripts/lib.sh

STAGES=(setup lint units sanity ee molecule integration jobs drill bench-quick build lab-down)
declare -A took=()
passed=0 failed=0 failed_stage=''

verify_lab_gone() {
    local left
    left=$(docker ps -aq --filter label=sre.runbooks.lab; docker network ls -q --filter label=sre.runbooks.lab)
    [ -z "$left" ] || { echo "lab-down left these behind: $left" >&2; return 1; }
}

for stage in "${STAGES[@]}"; do
    printf '\n######## make %s ########\n' "$stage"
    start=$SECONDS
    if make --no-print-directory "$stage" && { [ "$stage" != lab-down ] || verify_lab_gone; }; then
        passed=$((passed + 1))
        took[$stage]="ok      $((SECONDS - start)) s"
    else
        failed=$((failed + 1))
        took[$stage]="FAILED  $((SECONDS - start)) s"
        failed_stage=$stage
        break
    fi
done

printf '\n######## summary ########\n'
for stage in "${STAGES[@]}"; do
    printf '%-12s %s\n' "$stage" "${took[$stage]:-not run}"
done
printf 'total        %s s\n' "$SECONDS"
printf 'stages: %d passed, %d failed\n' "$passed" "$failed"
[ -z "$failed_stage" ] || { echo "make test failed at: make $failed_stage" >&2; exit 1; }
