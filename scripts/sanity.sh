#!/usr/bin/env bash
# Runs `ansible-test sanity` on a copy of the collection placed where ansible-test
# wants it (ansible_collections/sre/runbooks), made of the files git tracks plus the
# untracked ones it does not ignore. The link collections/ (for plain checkouts) is
# left out. Extra arguments go to ansible-test.
set -euo pipefail
cd "$(dirname "$0")/.."
. scripts/lib.sh
tree="$CACHE_DIR/sanity/ansible_collections/sre/runbooks"
rm -rf "$tree"
mkdir -p "$tree"
git ls-files -z --cached --others --exclude-standard \
    | grep -zv '^collections/' \
    | rsync -a --from0 --files-from=- ./ "$tree/"
cd "$tree"
# ansible-test wants a git tree (or none) to list files: give it its own.
git init -q && git add -A && git -c user.name=sanity -c user.email=sanity@localhost commit -qm sanity
# ansible-test bootstraps pip with a get-pip.py it downloads from a host we cannot
# reach; give it scripts/get_pip_offline.py under the name it looks for.
pip_version=$(sed -n "s/^ *pip='\([0-9.]*\)',/\1/p" \
    "$("$VENV/bin/python" -c 'import ansible_test, os; print(os.path.dirname(ansible_test.__file__))')/_internal/python_requirements.py")
mkdir -p ~/.ansible/test/cache
cp "$OLDPWD/scripts/get_pip_offline.py" ~/.ansible/test/cache/"get_pip_${pip_version//./_}.py"
python=$("$VENV/bin/python" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')
"$VENV/bin/ansible-test" sanity --color no --python "$python" --requirements "$@"

# Modules and module_utils run on the targets' Pythons: compile them there too
# (Ubuntu 22.04 has 3.10, Debian bookworm 3.11, Ubuntu 24.04 3.12). Every one of them
# must be found: a target Python that is missing fails the check, it is not skipped.
bin="$CACHE_DIR/target-pythons"
mkdir -p "$bin"
missing=()
for version in 3.10 3.11 3.12; do
    found=''
    for candidate in "python$version" "$HOME/.pyenv/versions/$version".*/bin/python3; do
        if "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != tuple(map(int, sys.argv[1].split("."))))' \
            "$version" >/dev/null 2>&1; then
            ln -sf "$(command -v "$candidate")" "$bin/python$version"
            found=yes
            break
        fi
    done
    [ -n "$found" ] || missing+=("$version")
done
if [ ${#missing[@]} -gt 0 ]; then
    echo "ERROR: no Python ${missing[*]} found (python<version> on PATH or ~/.pyenv/versions/<version>.*):" \
         "modules cannot be compiled for the targets that run them. Install it (pyenv install <version>)" \
         "and run scripts/sanity.sh again." >&2
    exit 1
fi
for version in 3.10 3.11 3.12; do
    PATH="$bin:$PATH" "$VENV/bin/ansible-test" sanity --color no --test compile --python "$version"
done
