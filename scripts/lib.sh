# Shared shell helpers for scripts/*.sh: paths, messages, Python lookup.
# shellcheck shell=bash disable=SC2034  # variables for the scripts that source this
CACHE_DIR="${SRE_CACHE_DIR:-$PWD/.cache}"
VENV="${SRE_VENV:-$PWD/.venv}"
LAB_DIR="$CACHE_DIR/lab"

step() { printf '==> %s\n' "$*"; }
die() { printf 'ERROR: %s\n' "$*" >&2; exit 1; }

# Prints the first Python >= 3.12 found on PATH or in pyenv.
find_python() {
    local c
    for c in python3.13 python3.12 "$HOME"/.pyenv/versions/3.13*/bin/python3 \
             "$HOME"/.pyenv/versions/3.12*/bin/python3 python3; do
        if command -v "$c" >/dev/null 2>&1 && \
           "$c" -c 'import sys; sys.exit(sys.version_info < (3, 12))' 2>/dev/null; then
            command -v "$c"
            return 0
        fi
    done
    return 1
}
