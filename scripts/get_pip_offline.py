# SPDX-License-Identifier: GPL-3.0-or-later
"""Stand-in for pip's get-pip.py bootstrap script, for ansible-test.

ansible-test downloads get-pip.py from a host that our build machines cannot reach;
scripts/sanity.sh puts this file in its cache instead. It installs pip the way
get-pip.py does, but from the interpreter's own ensurepip, then upgrades to the
requested packages (e.g. pip==25.2) from the configured package index.
"""

from __future__ import annotations

import subprocess
import sys


def main(argv: list[str]) -> int:
    args = [arg for arg in argv if arg not in ('--no-setuptools', '--no-wheel')]
    subprocess.run([sys.executable, '-m', 'ensurepip', '--default-pip'], check=True, stdout=subprocess.DEVNULL)
    return subprocess.run([sys.executable, '-m', 'pip', 'install', *args], check=False).returncode


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
