# SPDX-License-Identifier: GPL-3.0-or-later
"""Verdicts of the default command policy over corpora of dangerous and safe commands.

Every wrapper form of the safety issue appears on both sides: combined short flags,
--flag=value, sudo/env/timeout prefixes, VAR=value prefixes, sh -c / bash -c nesting,
&& ; | chains, docker exec and kubectl exec wrappers, and mentions inside echo/grep.
"""

from __future__ import annotations

import pytest

from ansible_collections.sre.runbooks.plugins.module_utils._command_policy import evaluate, merge_policy

DANGEROUS = [
    # Docker volumes (Q11)
    ('docker compose down -v', 'compose_down_volumes'),
    ('docker compose down --volumes', 'compose_down_volumes'),
    ('docker compose -f docker-compose.prod.yml down -v --remove-orphans', 'compose_down_volumes'),
    ('docker compose --project-name qa down -vt 5', 'compose_down_volumes'),
    ('docker-compose down -v', 'compose_down_volumes'),
    ('docker-compose -f docker-compose.production.yml down --volumes', 'compose_down_volumes'),
    ('cd ~/qa_labs && docker compose down -v', 'compose_down_volumes'),
    ('sudo docker compose down -v', 'compose_down_volumes'),
    ("bash -c 'cd /srv/app; docker compose down -v'", 'compose_down_volumes'),
    ('docker volume rm qa_labs_postgres_data', 'docker_volume_rm'),
    ('docker volume remove qa_labs_postgres_data', 'docker_volume_rm'),
    ('docker -H unix:///var/run/docker.sock volume rm data', 'docker_volume_rm'),
    ('docker volume prune -f', 'docker_volume_prune'),
    ('docker volume prune --filter label=app', 'docker_volume_prune'),
    ('docker system prune -af --volumes', 'docker_system_prune_volumes'),
    ('docker rm -fv qa_arena_postgres_prod', 'docker_rm_volumes'),
    ('docker container rm --volumes qa_arena_postgres_prod', 'docker_rm_volumes'),
    ('docker compose rm -sfv postgres', 'docker_rm_volumes'),
    # PostgreSQL data directories (Q11)
    ('rm -rf /var/lib/postgresql/data', 'pgdata_destroy'),
    ('sudo rm -rf /var/lib/postgresql/15/main', 'pgdata_destroy'),
    ('rm -r -f /var/lib/postgresql/15/main/', 'pgdata_destroy'),
    ('docker exec qa_arena_postgres_prod rm -rf /var/lib/postgresql/data', 'pgdata_destroy'),
    ('find /var/lib/postgresql/15/main -name "*.conf" -delete', 'pgdata_destroy'),
    ('mv /var/lib/postgresql/15/main /tmp/old', 'pgdata_destroy'),
    ('rm -rf "$PGDATA"', 'pgdata_destroy'),
    ('sudo -u postgres initdb -D /var/lib/postgresql/data', 'pgdata_init'),
    ('pg_dropcluster --stop 15 main', 'pgdata_init'),
    ('sudo -u postgres /usr/lib/postgresql/15/bin/pg_ctl initdb -D /tmp/x', 'pgdata_init'),
    # Dropping live databases
    ('dropdb o4o_platform', 'drop_live_database'),
    ('dropdb -h localhost -U postgres --if-exists o4o_platform', 'drop_live_database'),
    ('sudo -u postgres psql -c "DROP DATABASE o4o_platform"', 'drop_live_database'),
    ('psql --command="drop database if exists fragrance_ai"', 'drop_live_database'),
    ("psql -U postgres -c 'DROP DATABASE \"o4o_platform\";'", 'drop_live_database'),
    ('sudo -u postgres sh -c "dropdb o4o_platform && echo done"', 'drop_live_database'),
    ('docker compose exec -T postgres psql -U fragrance_user -c "DROP DATABASE fragrance_ai"', 'drop_live_database'),
    # Restores into live databases (Q8)
    ('pg_restore -d qa_arena /backup/postgres/qa_arena_20250101_010101.dump', 'restore_into_live_database'),
    ('pg_restore --dbname=qa_arena x.dump', 'restore_into_live_database'),
    ('pg_restore -c -d qa_arena_restore x.dump', 'pg_restore_clean'),
    ('pg_restore --clean --if-exists -d qa_arena_restore x.dump', 'pg_restore_clean'),
    ('pg_restore -cd qa_arena_restore x.dump', 'pg_restore_clean'),
    (
        'docker exec -i qa_arena_postgres_prod pg_restore -U postgres -d qa_arena /tmp/x.dump',
        'restore_into_live_database',
    ),
    ('pg_restore -C -d postgres x.dump', 'restore_into_live_database'),
    ('timeout 600 pg_restore -j 2 -d o4o_platform x.dump', 'restore_into_live_database'),
    # MongoDB (P11)
    ('mongorestore --drop /tmp/backup', 'mongorestore_drop'),
    ('kubectl exec -n playcode mongodb-0 -- mongorestore --drop --archive=/tmp/x.gz --gzip', 'mongorestore_drop'),
    ("kubectl exec -it mongodb-0 -n playcode -- sh -c 'mongorestore --drop /tmp/dump'", 'mongorestore_drop'),
    # Passwords on the command line
    ('mongorestore --username admin --password s3cret /tmp/dump', 'password_on_command_line'),
    ('mongosh "mongodb://admin:s3cret@mongodb-0:27017/playcode"', 'password_on_command_line'),
    ('PGPASSWORD=s3cret psql -h db -U fragrance_user fragrance_ai', 'password_on_command_line'),
    ('env PGPASSWORD=s3cret pg_dump -Fc qa_arena', 'password_on_command_line'),
    ('psql postgresql://fragrance_user:s3cret@localhost/fragrance_ai -c "select 1"', 'password_on_command_line'),
    ('redis-cli -a s3cret ping', 'password_on_command_line'),
    ('mysql -uroot -ps3cret', 'password_on_command_line'),
    ('curl -u admin:s3cret http://localhost:9090/api', 'password_on_command_line'),
    # Kubernetes
    ('kubectl delete namespace playcode', 'k8s_delete_namespace'),
    ('kubectl delete ns/playcode', 'k8s_delete_namespace'),
    ('kubectl -n playcode delete pvc data-mongodb-0', 'k8s_delete_pvc'),
    ('kubectl delete persistentvolumeclaim --all -n playcode', 'k8s_delete_pvc'),
    # Redis
    ('redis-cli FLUSHALL', 'redis_flush'),
    ('redis-cli -h 127.0.0.1 -p 6379 flushdb async', 'redis_flush'),
    ('docker compose exec redis redis-cli -n 0 FLUSHALL', 'redis_flush'),
    ('docker exec qa_arena_redis_prod redis-cli flushall', 'redis_flush'),
    # Chains, substitutions, prefixes
    ('docker compose ps; docker volume rm x', 'docker_volume_rm'),
    ('docker compose ps | grep db || docker compose down -v', 'compose_down_volumes'),
    ('echo "$(docker volume prune -f)"', 'docker_volume_prune'),
    ('timeout -s KILL 30s docker compose down --volumes', 'compose_down_volumes'),
    ('nice -n 10 nohup rm -rf /var/lib/postgresql/data &', 'pgdata_destroy'),
    ('COMPOSE_PROJECT_NAME=qa docker compose down -v', 'compose_down_volumes'),
    ('env -i PATH=/usr/bin docker volume rm data', 'docker_volume_rm'),
    ('su - postgres -c "dropdb o4o_platform"', 'drop_live_database'),
    ('sudo -u postgres bash -lc "psql -c \'DROP DATABASE o4o_platform\'"', 'drop_live_database'),
]

SAFE = [
    'docker compose ps',
    'docker compose -f docker-compose.prod.yml ps --format json',
    'docker compose logs --tail 200 backend',
    'docker compose down',
    'docker compose down --remove-orphans -t 30',
    'docker compose restart backend',
    'docker compose up -d --build backend',
    'docker-compose --env-file .env up -d --build',
    'docker volume ls',
    'docker volume inspect qa_labs_postgres_data',
    'docker system prune -f',
    'docker rm -f old_container',
    'docker exec qa_arena_postgres_prod pg_restore -l /backup/postgres/qa_arena.dump',
    'docker exec qa_arena_postgres_prod pg_dump -Fc -f /backup/postgres/qa_arena.dump qa_arena',
    'pg_restore -l /backup/postgres/qa_arena_20250101_010101.dump',
    'pg_restore --list x.dump',
    'pg_restore -d qa_arena_restore -j 2 x.dump',
    'pg_restore --dbname=o4o_platform_restore --no-owner x.dump',
    'pg_restore -f out.sql x.dump',
    'dropdb o4o_platform_restore',
    'dropdb --if-exists o4o_platform_broken_20250101T010101',
    'psql -c "SELECT 1"',
    'psql -d o4o_platform -c "select count(*) from users"',
    'sudo -u postgres psql -c "ALTER DATABASE o4o_platform RENAME TO o4o_platform_broken"',
    'psql --password -U postgres -c "select 1"',
    'psql -c "DROP DATABASE o4o_platform_restore"',
    'echo "docker compose down -v is forbidden"',
    'echo rm -rf /var/lib/postgresql/data',
    "grep -rn 'DROP DATABASE' migrations/",
    'grep -c "docker volume rm" runbook.md',
    'printf "%s\\n" "dropdb o4o_platform"',
    'rm -rf /tmp/sre-restore-work',
    'rm -f /backup/o4o-platform/o4o_backup_20240101_000000.tar.gz',
    'find /backup/postgres -name "*.dump" -mtime +7 -delete',
    'ls -la /var/lib/postgresql/15/main',
    'du -sh /var/lib/postgresql/15/main',
    'mv /backup/x.dump.part /backup/x.dump',
    'kubectl delete pod playcode-app-7c9f -n playcode',
    'kubectl get ns',
    'kubectl -n playcode rollout undo deployment/playcode-app',
    'kubectl exec -n playcode mongodb-0 -- mongosh --eval "rs.status()"',
    'kubectl create job --from=cronjob/mongodb-backup manual-backup-20250101 -n playcode',
    'mongorestore --archive=/tmp/x.gz --gzip',
    'redis-cli ping',
    'redis-cli -h 127.0.0.1 info persistence',
    'docker compose exec redis redis-cli dbsize',
    'sudo systemctl restart postgresql',
    'timeout 10 pg_isready -h 127.0.0.1',
    'sudo -u postgres pg_dump -Fc -f /backup/o4o.dump o4o_platform',
    'pg_dump postgresql://fragrance_user@localhost/fragrance_ai',
    'PGAPPNAME=sre psql -c "select 1"',
    'curl -fsS -H "Authorization: Bearer $ADMIN_TOKEN" -X POST http://localhost:4000/api/v1/auto-recovery/enable',
    'git log -5 --oneline | grep -i volume',
    'cd ~/qa_labs && git switch main && git pull',
    'pm2 restart api-server && curl -fsS http://localhost:4000/api/health',
]


@pytest.mark.parametrize(('command', 'rule'), DANGEROUS, ids=[c for c, r in DANGEROUS])
def test_dangerous_commands_are_refused_by_the_right_rule(command, rule):
    verdict = evaluate(command)
    assert not verdict['allowed'], verdict
    assert rule in {v['rule'] for v in verdict['violations']}
    assert verdict['reason'].startswith('refused:')


@pytest.mark.parametrize('command', SAFE)
def test_safe_commands_are_allowed(command):
    verdict = evaluate(command)
    assert verdict['allowed'], verdict['reason']


def test_corpora_are_large_enough():
    assert len(DANGEROUS) >= 40 and len(SAFE) >= 40


@pytest.mark.parametrize(
    ('argv', 'allowed'),
    [
        (['docker', 'compose', 'down', '-v'], False),
        (['docker', 'compose', 'down'], True),
        (['sh', '-c', 'docker volume rm x'], False),
        (['echo', 'docker volume rm x; dropdb o4o_platform'], True),
        (['sudo', '-u', 'postgres', 'dropdb', 'o4o_platform'], False),
    ],
)
def test_argv_form_is_not_split_by_a_shell(argv, allowed):
    assert evaluate(argv)['allowed'] is allowed


def test_confirmation_unlocks_only_confirmable_rules():
    assert evaluate('mongorestore --drop /tmp/x', confirmations=['mongorestore_drop'])['allowed']
    assert not evaluate('docker volume rm x', confirmations=['docker_volume_rm'])['allowed']


def test_inventory_policy_extends_the_defaults():
    policy = merge_policy(
        {
            'extra_rules': [{'id': 'no_reboot', 'argv': ['reboot'], 'reason': 'ask first'}],
            'scratch_databases': ['scratch_*'],
            'postgres_data_dirs': ['/data/pg'],
        }
    )
    assert not evaluate('sudo reboot', policy)['allowed']
    assert evaluate('dropdb scratch_1', policy)['allowed']
    assert not evaluate('rm -rf /data/pg/base', policy)['allowed']
    assert not evaluate('docker volume rm x', policy)['allowed']


def test_a_rule_can_be_disabled_per_inventory():
    policy = merge_policy({'rules_disabled': ['redis_flush']})
    assert evaluate('redis-cli FLUSHALL', policy)['allowed']


def test_unknown_policy_keys_are_refused():
    with pytest.raises(ValueError, match='unknown policy key'):
        merge_policy({'rule': []})


def test_unparsable_command_is_refused_with_the_reason():
    verdict = evaluate('echo "unbalanced')
    assert not verdict['allowed'] and 'cannot parse' in verdict['reason']


def test_violation_names_the_command_and_where_it_runs():
    verdict = evaluate('docker exec qa_arena_postgres_prod rm -rf /var/lib/postgresql/data')
    assert 'in docker exec qa_arena_postgres_prod' in verdict['violations'][0]['command']
