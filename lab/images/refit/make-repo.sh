#!/bin/sh
# Turns /home/ec2-user/refit-api into the Re-Fit API's git repository with four
# releases, builds and starts v1.1.0 under pm2 the way roles/pm2_app leaves a deploy
# (the build marker, the deploy history), and saves pm2's process list for boot.
#   v1.0.0, v1.1.0  good
#   v1.2.0          bad: /actuator/health answers 503 DOWN (a failed deploy, R2)
#   v1.3.0          5XX: health UP, /api/* answers 500 (the alert loop, F11)
set -eu
repo=/home/ec2-user/refit-api
export PM2_HOME=/home/ec2-user/.pm2
cd "$repo"
git init -q -b main
git config user.name 'Re-Fit Lab'
git config user.email 'lab@refit.example'
# Fixed dates, so that every build of the image gives the releases the same commits.
release() {  # release <version> <faults as a JSON list> <date> <message>
    sed -i "s/\"version\": \"[0-9.]*\"/\"version\": \"$1\"/" package.json package-lock.json
    printf '{\n  "version": "%s",\n  "faults": %s\n}\n' "$1" "$2" > src/release.json
    echo "- $1: $4" >> CHANGELOG.md
    git add -A
    GIT_AUTHOR_DATE="$3T09:00:00Z" GIT_COMMITTER_DATE="$3T09:00:00Z" git commit -q -m "refit-api $1: $4"
    git tag "v$1"
}
release 1.0.0 '[]' 2026-01-05 'first release'
release 1.1.0 '[]' 2026-01-12 'recommendations by goal'
release 1.2.0 '["health"]' 2026-01-19 'new model loader (its health check fails)'
release 1.3.0 '["api"]' 2026-01-26 'recommendation cache (answers 500)'

# The lab runs v1.1.0: checked out, installed, built, its commit recorded where
# pm2_app looks for the last successful build, then started and saved.
git checkout -q --detach v1.1.0
npm ci --prefer-offline --no-audit --no-fund --loglevel=error
npm run build --silent
git rev-parse HEAD > .git/sre-runbooks-build
# pm2_app's deploy history: v1.0.0 and v1.1.0 were deployed healthy, so a failed
# deploy has a release to go back to (pm2_app's last_good).
state=/home/ec2-user/.local/state/sre-runbooks
mkdir -p "$state" && chmod 0700 "$state"
# Written as pm2_app writes it (to_nice_json: sorted keys, 4 spaces), so that deploying
# v1.1.0 again changes nothing.
node -e '
const [v100, v110] = process.argv.slice(1);
const sorted = (value) => (Array.isArray(value) ? value.map(sorted) : value && typeof value === "object"
  ? Object.fromEntries(Object.keys(value).sort().map((key) => [key, sorted(value[key])])) : value);
const state = {
  history: [{ value: v100, at: "2026-01-05T09:00:00+00:00" }, { value: v110, at: "2026-01-12T09:00:00+00:00" }],
  refs: { [v100]: "v1.0.0", [v110]: "v1.1.0" },
};
process.stdout.write(JSON.stringify(sorted(state), null, 4) + "\n");
' "$(git rev-parse 'v1.0.0^{commit}')" "$(git rev-parse 'v1.1.0^{commit}')" > "$state/pm2-refit-api.json"
chmod 0600 "$state/pm2-refit-api.json"
pm2 start ecosystem.config.js >/dev/null
pm2 save >/dev/null
pm2 kill >/dev/null
