#!/usr/bin/env bash
# The O4O disaster-recovery drill on the lab (the README's main command, `make drill`):
# take a backup, break the database (drop a table, delete and corrupt rows), run
# playbooks/disaster_recovery.yml, then prove the recovery through nginx and print the
# report's path. Exits non-zero when any figure is not back.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=scripts/lib.sh
. scripts/lib.sh

log_dir="$CACHE_DIR/drill"
mkdir -p "$log_dir"
web=http://172.30.53.11
api_host=api.neture.co.kr

psql_api() {
    docker exec -u postgres sre-lab-api psql -XAtq -v ON_ERROR_STOP=1 -d o4o_platform -c "$1"
}

counts() {
    psql_api "SELECT (SELECT count(*) FROM users) || ' users, ' || (SELECT count(*) FROM products)
              || ' products, ' || (SELECT count(*) FROM orders) || ' orders'" 2>/dev/null || echo "unreadable"
}

step "1/4 Take a verified backup of o4o_platform"
ansible-playbook playbooks/backup.yml -e pg_backup_force=true >"$log_dir/drill-backup.log"
echo "    before: $(counts)"

step "2/4 Break the database: drop orders, delete 500 users, corrupt 71 products"
psql_api "DROP TABLE orders; DELETE FROM users WHERE id > 1500; UPDATE products SET name = '#corrupt#', price = 0 WHERE id % 7 = 0"
echo "    broken: $(psql_api "SELECT (SELECT count(*) FROM users) || ' users, orders table gone, '
                               || (SELECT count(*) FROM products WHERE name = '#corrupt#') || ' products corrupted'")"

step "3/4 Recover: ansible-playbook playbooks/disaster_recovery.yml -e dr_scenario=db_corruption"
started=$(date +%s%N)
set +e
ansible-playbook playbooks/disaster_recovery.yml -e dr_scenario=db_corruption 2>&1 | tee "$log_dir/drill-recovery.log" \
    | grep --line-buffered -E '^PLAY \[|^fatal|msg: .*(affected|path|wrote)|: ok='
rc=${PIPESTATUS[0]}
set -e
[ "$rc" -eq 0 ] || die "the recovery failed (rc=$rc); full log: $log_dir/drill-recovery.log"
elapsed_ms=$(( ($(date +%s%N) - started) / 1000000 ))
printf '    recovered in %d.%03d s\n' $((elapsed_ms / 1000)) $((elapsed_ms % 1000))

step "4/4 Prove it through nginx ($web, Host: $api_host)"
health=$(curl -fsS -H "Host: $api_host" "$web/api/health")
products=$(curl -fsS -H "Host: $api_host" "$web/api/v1/products")
login=$(curl -fsS -H "Host: $api_host" -H 'Content-Type: application/json' \
    -d '{"email":"admin@neture.co.kr","password":"o4o-lab-1"}' "$web/api/v1/auth/login")
now=$(counts)
corrupt=$(psql_api "SELECT count(*) FROM products WHERE name = '#corrupt#'")
echo "    GET  /api/health        -> $health"
echo "    GET  /api/v1/products   -> total $(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["total"])' "$products")"
echo "    POST /api/v1/auth/login -> ${login:0:40}..."
echo "    rows: $now; corrupted products left: $corrupt"
[ "$now" = "2000 users, 500 products, 10000 orders" ] || die "rows not back: $now"
[ "$corrupt" = "0" ] || die "$corrupt corrupted products left"
case "$health" in *'"status":"ok"'*'"database":"up"'*) ;; *) die "API unhealthy: $health" ;; esac
report=$(grep -o 'wrote the post-mortem to [^"]*' "$log_dir/drill-recovery.log" | tail -1 | sed 's/.* to //')
sed -n '/^## Impact/,/^## Results/p' "$report" | grep -v '^## Results' | sed 's/^/    /'
echo
echo "Drill passed: every row is back and the API answers through nginx."
echo "Post-mortem report: $report"
