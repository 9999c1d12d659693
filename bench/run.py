"""Benchmarks of the recovery path (issue #6), on the lab: `make bench`.

    python bench/run.py                    # everything, median of 3 runs (about 15 min)
    python bench/run.py --quick            # small sizes, 1 run: checks the scripts work
    python bench/run.py --only swap,drill  # some of: pg, swap, drill, fanout, k8s, deploy
    python bench/run.py --quick --check    # CI (make bench-quick): fail on a lost write or a
                                           # re-run that changes something; times are never checked

Prints a markdown table and writes bench/results/latest.json and latest.md (--out to
write elsewhere). Needs the lab (make lab).
"""

from __future__ import annotations

import argparse
import datetime
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from sre_bench import dataset, deploy, drill, fanout, k8s, pg, report, swap
from sre_bench.common import ROOT

MEASURES = ('pg', 'swap', 'drill', 'fanout', 'k8s', 'deploy')


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--quick', action='store_true', help='small sizes and one run: a check that all of it works')
    parser.add_argument('--runs', type=int, help='runs per figure (the median is reported); default 3, quick 1')
    parser.add_argument('--only', default=','.join(MEASURES), help=f"comma-separated subset of {', '.join(MEASURES)}")
    parser.add_argument('--check', action='store_true', help='exit 1 when a write was lost or a re-run changed')
    parser.add_argument('--out', type=Path, default=ROOT / 'bench' / 'results', help='where latest.json/md go')
    args = parser.parse_args()
    only = [name.strip() for name in args.only.split(',') if name.strip()]
    unknown = sorted(set(only) - set(MEASURES))
    if unknown:
        parser.error(f"unknown measure(s): {', '.join(unknown)}; choose from {', '.join(MEASURES)}")
    runs = args.runs or (1 if args.quick else 3)
    sizes = {'10MB': 0.01} if args.quick else {'100MB': 0.1, '1GB': 1.0}
    label, scale = next(iter(sizes.items()))  # the swap runs on the smallest database
    swap_database = (dataset.database_name(label), scale)
    results = {
        'started': datetime.datetime.now(datetime.timezone.utc).isoformat(timespec='seconds'),
        'mode': 'quick' if args.quick else 'full',
        'runs': runs,
        'machine': report.machine(),
    }
    started = time.monotonic()
    steps = {
        'pg': ('1, 2, 7: backup and restore against the raw tools', lambda: pg.measure(sizes, runs)),
        'swap': ('3: unavailability during the swap', lambda: swap.measure(*swap_database)),
        'drill': ('4, 5, 7: drill RTO, re-run, controller memory', lambda: drill.measure(runs)),
        'fanout': (
            '6: fan-out, collection vs stock settings',
            lambda: fanout.measure([2] if args.quick else [2, 8, 16], runs),
        ),
        'k8s': ('8: Kubernetes deploy and rollback against the API stand-in', lambda: k8s.measure(runs)),
        'deploy': ('9: guarded deploy and its automatic rollback (compose host)', lambda: deploy.measure(runs)),
    }
    for name in only:
        title, action = steps[name]
        print(f'==> bench {title}', flush=True)
        results[name] = action()
    results['seconds'] = round(time.monotonic() - started, 1)
    previous = args.out / 'latest.json'
    if set(only) != set(MEASURES) and previous.exists():
        # A partial run keeps the other measures of the last run, and says so.
        kept = {k: v for k, v in json.loads(previous.read_text()).items() if k in MEASURES and k not in only}
        results = kept | results | {'kept_from_previous_run': sorted(kept)}
    table = report.write(results, args.out)
    print(table.read_text())
    print(f'bench: {results["seconds"]} s; wrote {args.out}/latest.json and {table}')
    return 1 if args.check and problems(results) else 0


def problems(results: dict) -> list[str]:
    """Correctness failures among the figures (speed targets are reported, never checked)."""
    found = []
    if results.get('swap', {}).get('acknowledged_lost'):
        found.append(f"{results['swap']['acknowledged_lost']} acknowledged writes lost during the swap")
    if results.get('drill', {}).get('rerun', {}).get('changed'):
        found.append(f"the re-run on a healthy system changed {results['drill']['rerun']['changed']} things")
    if results.get('k8s', {}).get('rerun_changed'):
        found.append(f"the Kubernetes deploy's re-run changed {results['k8s']['rerun_changed']} things")
    if results.get('deploy', {}).get('rerun_changed'):
        found.append(f"the guarded deploy's re-run changed {results['deploy']['rerun_changed']} things")
    for text in found:
        print(f'bench: FAILED: {text}', file=sys.stderr)
    return found


if __name__ == '__main__':
    sys.exit(main())
