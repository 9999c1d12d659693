#!/bin/sh
# Turns /home/ubuntu/o4o-platform into a git repository with a short history
# (three releases of api-server), so that "check out the last stable commit"
# (runbook O9, scenario 4) has something to go back to.
set -eu
repo=/home/ubuntu/o4o-platform
cd "$repo"
git init -q -b main
git config user.name 'O4O Lab'
git config user.email 'lab@neture.co.kr'
pkg=apps/api-server/package.json
for version in 1.0.0 1.1.0 1.2.0; do
    sed -i "s/\"version\": \"[0-9.]*\"/\"version\": \"$version\"/" "$pkg"
    echo "- api-server $version" >> CHANGELOG.md
    git add -A
    git commit -q -m "api-server $version"
    git tag "v$version"
done
