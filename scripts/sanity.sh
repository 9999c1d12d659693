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
