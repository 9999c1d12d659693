#!/usr/bin/env bash
# Opt-in: run an Ansible command with the Mitogen strategy over the collection's own
# settings (ansible.cfg is unchanged; nothing else turns Mitogen on). docs/mitogen.md says
# what was measured and what does not work under it.
#
#   scripts/with-mitogen.sh ansible-playbook playbooks/health_check.yml
#   scripts/with-mitogen.sh --lab ansible-playbook playbooks/health_check.yml   # the lab
#   scripts/with-mitogen.sh --free ansible-playbook ...                         # mitogen_free
#
# --lab: no host key checking. Mitogen puts `StrictHostKeyChecking yes` ahead of
# ansible_ssh_common_args and ssh keeps the first value, so the lab's
# `-o StrictHostKeyChecking=no -o UserKnownHostsFile=/dev/null` no longer applies and its
# throwaway host keys are refused. Never use --lab against production hosts.
set -euo pipefail
here="$(cd "$(dirname "$0")/.." && pwd)"
strategy=mitogen_linear
while [ $# -gt 0 ]; do
    case "$1" in
        --lab) export ANSIBLE_HOST_KEY_CHECKING=False; shift ;;
        --free) strategy=mitogen_free; shift ;;
        --) shift; break ;;
        *) break ;;
    esac
done
[ $# -gt 0 ] || { echo "usage: $0 [--lab] [--free] ansible-playbook|ansible ARGS..." >&2; exit 2; }

python="${SRE_VENV:-$here/.venv}/bin/python"
[ -x "$python" ] || python=python3
plugins="$("$python" -c 'import ansible_mitogen, os; print(os.path.join(os.path.dirname(ansible_mitogen.__file__), "plugins", "strategy"))' 2>/dev/null)" \
    || { echo "ERROR: mitogen is not installed: pip install -r requirements.txt" >&2; exit 1; }

export ANSIBLE_STRATEGY_PLUGINS="$plugins" ANSIBLE_STRATEGY="$strategy"
export ANSIBLE_CONFIG="${ANSIBLE_CONFIG:-$here/ansible.cfg}"
exec "$@"
