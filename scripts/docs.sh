#!/usr/bin/env bash
# The collection's documentation, checked and built with antsibull-docs (see docs/plugins.md).
#   scripts/docs.sh lint   every plugin's and role's docs parse, match the schema and
#                          render; a filter without docs fails too (`make lint` runs this)
#   scripts/docs.sh site   the same check, then the HTML site in .cache/docs/site/build/html
# The collection resolves as sre.runbooks through collections/ (ansible.cfg's
# collections_path); antsibull-docs copies the files git tracks or does not ignore.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
export PATH="$VENV/bin:$PATH" ANSIBLE_CONFIG="$PWD/ansible.cfg"
command -v antsibull-docs >/dev/null || die "antsibull-docs is not in $VENV: run scripts/setup.sh venv"

lint() {
    step "Checking the plugin and role docs (antsibull-docs lint-collection-docs --plugin-docs)"
    antsibull-docs lint-collection-docs --plugin-docs .
}

site() {
    local dir="$CACHE_DIR/docs/site"
    step "Building the docs site in $dir/build/html"
    rm -rf "$dir"
    mkdir -p "$dir"
    antsibull-docs sphinx-init --use-current --squash-hierarchy --fail-on-error --lenient \
        --sphinx-theme alabaster --project sre.runbooks --title sre.runbooks \
        --copyright 'sre.runbooks contributors' --dest-dir "$dir" sre.runbooks >/dev/null
    # Sphinx warns about links into docs.ansible.com that it cannot resolve offline.
    "$dir/build.sh" >"$dir/build.log" 2>&1 || { tail -n 30 "$dir/build.log" >&2; die "the docs site did not build (log: $dir/build.log)"; }
    step "Open $dir/build/html/index.html"
}

case "${1:-site}" in
    lint) lint ;;
    site) lint; site ;;
    *) die "usage: $0 [lint|site]" ;;
esac
