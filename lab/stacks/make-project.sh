#!/usr/bin/env bash
# Run on the lab's compose host as ubuntu by lab/lab.sh: makes the compose project
# <dir> from the files in /tmp/sre-stacks/<stack>, as a git clone of the bare
# repository /srv/git/<name>.git with two releases (v0.1.0, then v0.2.0 on main).
# Usage: make-project.sh <stack> <dir> <app-subdir>. Does nothing if <dir> exists.
set -euo pipefail
src=/tmp/sre-stacks
stack=$1 dir=$2 appdir=$3
origin=/srv/git/$(basename "$dir").git
[ -d "$dir/.git" ] && exit 0
git init -q --bare -b main "$origin"
git init -q -b main "$dir"
cd "$dir"
git config user.name 'Lab Release'
git config user.email release@lab.invalid
cp -r "$src/$stack/." .
mkdir -p "$appdir"
cp "$src"/app/* "$appdir/"
for version in v0.1.0 v0.2.0; do
    echo "$version" > "$appdir/VERSION"
    echo "$version" > VERSION
    git add -A
    git commit -q -m "release $version"
done
git remote add origin "$origin"
git push -q -u origin main
