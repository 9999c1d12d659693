#!/usr/bin/env bash
# Builds the collection tarball, installs it into a scratch collections path and
# runs a playbook from it by FQCN against the lab, with a configuration that cannot
# see this checkout, so what runs is what a user would install.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
out="$CACHE_DIR/build"
rm -rf "$out"
mkdir -p "$out/collections"
step "Building the collection tarball"
"$VENV/bin/ansible-galaxy" collection build --force --output-path "$out" . >/dev/null
tarball=$(ls "$out"/sre-runbooks-*.tar.gz)
leaked=$(tar -tzf "$tarball" | grep -E '^(tests|molecule|lab|bench|scripts|collections|\.cache|\.venv)/' || true)
[ -z "$leaked" ] || die "build_ignore let these into $tarball: $(echo "$leaked" | head -5)"
cat > "$out/ansible.cfg" <<CFG
[defaults]
collections_path = $out/collections
interpreter_python = auto_silent
[ssh_connection]
pipelining = true
CFG
export ANSIBLE_CONFIG="$out/ansible.cfg"
step "Installing $(basename "$tarball") into $out/collections"
# --no-deps: the dependencies come from the pinned ansible bundle in the venv.
"$VENV/bin/ansible-galaxy" collection install --force --no-deps -p "$out/collections" "$tarball" >/dev/null
where=$("$VENV/bin/ansible-galaxy" collection list sre.runbooks 2>/dev/null | sed -n 's/^# //p' | head -1)
[ "$where" = "$out/collections/ansible_collections" ] || die "sre.runbooks resolved from '$where', not the installed tarball"
step "Running sre.runbooks.health_check from the installed collection"
"$VENV/bin/ansible-playbook" -i inventories/lab sre.runbooks.health_check
