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
step "Checking that $(basename "$tarball") holds only what a user installs"
SRE_COLLECTION_TARBALL="$tarball" "$VENV/bin/pytest" -q -p no:cacheprovider tests/unit/test_collection_tarball.py \
    || die "$tarball holds more than a user installs, or names a production host (see above)"
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
# The inventory is the checkout's lab: the tarball carries no inventories.
step "Running sre.runbooks.health_check from the installed collection"
"$VENV/bin/ansible-playbook" -i inventories/lab sre.runbooks.health_check
