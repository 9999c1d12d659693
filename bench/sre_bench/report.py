"""The results as one JSON document and one markdown table (bench/results/latest.*)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
from pathlib import Path


def machine() -> dict:
    cpuinfo = Path('/proc/cpuinfo').read_text().splitlines()
    cpu = next((line.split(':', 1)[1].strip() for line in cpuinfo if 'model name' in line), platform.machine())
    meminfo = Path('/proc/meminfo').read_text().splitlines()
    mem_kib = int(next(line.split()[1] for line in meminfo if 'MemTotal' in line))
    pg = subprocess.run(
        ['docker', 'exec', 'sre-lab-api', 'psql', '--version'], capture_output=True, text=True, check=False
    ).stdout.strip()
    ansible = subprocess.run(['ansible', '--version'], capture_output=True, text=True, check=False).stdout
    return {
        'cpu': cpu,
        'cores': os.cpu_count(),
        'memory_gib': round(mem_kib / 2**20, 1),
        'kernel': platform.release(),
        'postgresql': pg,
        'ansible_core': ansible.splitlines()[0] if ansible else '',
    }


def _ratio(ours: float, floor: float) -> str:
    return f'{ours / floor:.2f}x' if floor else 'n/a'


def _mark(ok: bool) -> str:
    return 'met' if ok else '**missed**'


# Issue #20's targets (ratio to the raw tool, the drill or stock settings); sizes not named are reported.
BACKUP_TARGET = {'100MB': 1.2}
RESTORE_TARGET = {'100MB': 1.5, '1GB': 1.0}
RERUN_TARGET = 0.25
FANOUT_TARGET = {'16': 0.5}


def _target(limit: float | None, ratio: float, unit: str = 'x') -> tuple[str, str]:
    """The target column and its mark; '(reported)' when this size has no target."""
    if limit is None:
        return '(reported)', ''
    return f'<= {limit}{unit}', _mark(ratio <= limit)


def _per_task(f: dict, name: str) -> str:
    """The machine's CPU of a fan-out run, per host-task, and the controller's share of it."""
    per = f.get('cpu_s_per_host_task', {}).get(name)
    text = f"{f['cpu_s'][name]} s, {per} s per host-task" if per is not None else f"{f['cpu_s'][name]} s"
    own = f.get('controller_cpu_s_per_host_task', {}).get(name)
    return text + (f" (controller {f['controller_cpu_s'][name]} s, {own} s)" if own is not None else '')


def markdown(results: dict) -> str:
    m = results['machine']
    lines = [
        f"Run {results['started']} ({results['mode']}, median of {results['runs']}) on {m['cores']} cores "
        f"({m['cpu']}), {m['memory_gib']} GiB, kernel {m['kernel']}, {m['postgresql']}, {m['ansible_core']}.",
        *(
            [f"Kept from the previous run: {', '.join(results['kept_from_previous_run'])}."]
            if results.get('kept_from_previous_run')
            else []
        ),
        '',
        '| # | measure | ours | floor / baseline | ratio | target | |',
        '|---|---|---|---|---|---|---|',
    ]
    for label, pg in results.get('pg', {}).items():
        size = pg['database']['size_mb']
        b, r = pg['backup'], pg['restore']
        ours, raw = b['pg_backup role (custom)'], b['raw pg_dump -Fc']
        target, mark = _target(BACKUP_TARGET.get(label), ours['s'] / raw['s'] if raw['s'] else float('inf'))
        lines.append(
            f"| 1 | backup {label} ({size} MB): role, custom (engine {ours['engine_s']} s, {ours['file_mb']} MB) "
            f"vs `pg_dump -Fc` ({raw['file_mb']} MB) | {ours['s']} s | {raw['s']} s | {_ratio(ours['s'], raw['s'])} "
            f"| {target} | {mark} |"
        )
        ours, raw = b['pg_backup role (o4o_archive)'], b['raw pg_dump | gzip']
        lines.append(
            f"| 1 | backup {label}: role, O4O `.tar.gz` archive (engine {ours['engine_s']} s) vs `pg_dump | gzip` "
            f"| {ours['s']} s | {raw['s']} s | {_ratio(ours['s'], raw['s'])} | (reported) | |"
        )
        ours, raw = r['pg_restore role (rehearse + verify + swap)'], r['raw pg_restore']
        plain = r["runbook's psql -f (plain dump)"]
        target, mark = _target(RESTORE_TARGET.get(label), ours['s'] / raw['s'] if raw['s'] else float('inf'))
        lines.append(
            f"| 2 | restore {label}: role (rehearse + verify + swap) vs `pg_restore` into an empty database "
            f"(runbook's `psql -f`: {plain['s']} s) | {ours['s']} s | {raw['s']} s | {_ratio(ours['s'], raw['s'])} "
            f"| {target} | {mark} |"
        )
        lines.append(
            f"| 7 | host memory {label}, peak over idle: backup role / `pg_dump`; restore role / `pg_restore` "
            f"| {b['pg_backup role (custom)']['host_peak_mib']} / {ours['host_peak_mib']} MiB "
            f"| {b['raw pg_dump -Fc']['host_peak_mib']} / {raw['host_peak_mib']} MiB | | (reported) | |"
        )
    if 'swap' in results:
        s = results['swap']
        worst = max(s['longest_read_outage_s'], s['longest_write_outage_s'])
        lines.append(
            f"| 3 | swap: longest failed window (reads {s['longest_read_outage_s']} s, writes "
            f"{s['longest_write_outage_s']} s); acknowledged writes lost: {s['acknowledged_lost']} of "
            f"{s['writes_acknowledged']} ({s['acknowledged_in_kept_database']} in the kept old database, "
            f"{s['acknowledged_in_live_database']} in the new one) | {worst} s | | | < 1 s, 0 lost "
            f"| {_mark(worst < 1 and s['acknowledged_lost'] == 0)} |"
        )
    if 'drill' in results:
        d, plan = results['drill'], results['drill']['runbook_plan_min']
        stages = ', '.join(f"{k} {v} s ({plan[k]} min)" for k, v in d['drill']['stages_s'].items())
        lines.append(
            f"| 4 | drill RTO (database corruption), stages vs the runbook's plan: {stages} "
            f"| {d['drill']['recovery_s']} s | {sum(plan.values())} min | | (reported) | |"
        )
        rerun = d['rerun']
        rerun_ok = rerun['changed'] == 0 and rerun['ratio_to_recovery'] <= RERUN_TARGET
        lines.append(
            f"| 5 | re-run on the healthy system: changed={rerun['changed']}, time vs the drill's recovery "
            f"| {rerun['s']} s | {d['drill']['recovery_s']} s | {rerun['ratio_to_recovery']} "
            f"| 0 changed, <= {RERUN_TARGET} | {_mark(rerun_ok)} |"
        )
        lines.append(
            f"| 7 | controller peak memory during the drill | {d['drill']['controller_peak_mib']} MiB | | "
            f"| (reported) | |"
        )
    for size, f in results.get('fanout', {}).items():
        target, met = _target(FANOUT_TARGET.get(size), f['ratio'], '')
        lines.append(
            f"| 6 | fan-out: health_check.yml on {size} hosts, collection ansible.cfg vs stock (CPU of the "
            f"machine: {_per_task(f, 'collection')} vs {_per_task(f, 'stock')}) "
            f"| {f['collection']} s | {f['stock']} s | {f['ratio']} | {target} | {met} |"
        )
        if 'mitogen' in f:  # the opt-in (docs/mitogen.md), measured in the same run
            lines.append(
                f"| 6 | fan-out: health_check.yml on {size} hosts, collection ansible.cfg + Mitogen (opt-in, "
                f"scripts/with-mitogen.sh) vs stock (CPU of the machine: {_per_task(f, 'mitogen')} vs "
                f"{_per_task(f, 'stock')}) | {f['mitogen']} s | {f['stock']} s | {f['ratio_mitogen']} | (reported) | |"
            )
    lines += _k8s_lines(results.get('k8s'))
    lines += _deploy_lines(results.get('deploy'))
    return '\n'.join(lines) + '\n'


def _k8s_lines(k: dict | None) -> list[str]:
    """Measure 8 (issue #20): the Kubernetes deploy and rollback against the API stand-in."""
    if not k:
        return []
    return [
        f"| 8 | Kubernetes deploy (P1) against the API stand-in: `k8s_deploy.yml` vs `kubectl set image` + "
        f"`rollout status` (controller peak {k['controller_peak_mib']} MiB) | {k['deploy_s']} s "
        f"| {k['kubectl_deploy_s']} s | {_ratio(k['deploy_s'], k['kubectl_deploy_s'])} | (reported) | |",
        f"| 8 | Kubernetes rollback (P3): `k8s_rollback.yml` vs `kubectl rollout undo` + `rollout status` "
        f"| {k['rollback_s']} s | {k['kubectl_undo_s']} s | {_ratio(k['rollback_s'], k['kubectl_undo_s'])} "
        f"| (reported) | |",
        f"| 8 | Kubernetes deploy re-run: changed={k['rerun_changed']} | {k['rerun_s']} s | | | 0 changed "
        f"| {_mark(k['rerun_changed'] == 0)} |",
    ]


def _deploy_lines(d: dict | None) -> list[str]:
    """Measure 9 (issue #20): the guarded deploy (R2) and its automatic rollback on the compose host."""
    if not d:
        return []
    floor = f"{d['health_floor_s']} s ({d['health_retries']} health retries x {d['health_delay_s']} s)"
    return [
        f"| 9 | guarded deploy (R2) {d['from']} -> {d['release']} on the compose host: `guarded_deploy.yml` vs "
        f"`.env` VERSION + `docker compose up -d` + curl /health, on the host (controller peak "
        f"{d['controller_peak_mib']} MiB) | {d['deploy_s']} s | {d['raw_deploy_s']} s "
        f"| {_ratio(d['deploy_s'], d['raw_deploy_s'])} | (reported) | |",
        f"| 9 | guarded deploy of a bad release ({d['bad_release']}), failed health check and automatic rollback "
        f"until the run ends 'rollback done' ({d['notices']} notices in all); floor: the health retries "
        f"| {d['rollback_s']} s | {floor} | {_ratio(d['rollback_s'], d['health_floor_s'])} | (reported) | |",
        f"| 9 | guarded deploy re-run: changed={d['rerun_changed']} | {d['rerun_s']} s | | | 0 changed "
        f"| {_mark(d['rerun_changed'] == 0)} |",
    ]


def write(results: dict, out_dir: Path) -> Path:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / 'latest.json').write_text(json.dumps(results, indent=2) + '\n')
    table = out_dir / 'latest.md'
    table.write_text(markdown(results))
    return table
