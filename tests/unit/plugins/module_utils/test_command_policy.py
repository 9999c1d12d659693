# SPDX-License-Identifier: GPL-3.0-or-later
"""Verdicts of the default command policy over corpora of dangerous and safe commands.

Every wrapper form of the safety issue appears on both sides: combined short flags,
--flag=value, sudo/env/timeout prefixes, VAR=value prefixes, sh -c / bash -c nesting,
&& ; | chains, docker exec and kubectl exec wrappers, and mentions inside echo/grep.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ansible.plugins.filter.core import FilterModule as CoreFilters
from ansible.plugins.test.core import TestModule as CoreTests
from jinja2.filters import FILTERS as JINJA_FILTERS
from jinja2.nativetypes import NativeEnvironment

from ansible_collections.sre.runbooks.plugins.filter.compose import FilterModule as ComposeFilters
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
    ('kubectl delete all --all -n playcode', 'k8s_delete_all'),
    ('kubectl delete pods --all --all-namespaces', 'k8s_delete_all'),
    ('kubectl delete certificate playcode-tls -n playcode', 'k8s_delete_certificate'),
    ('kubectl -n playcode delete certificates.cert-manager.io/playcode-tls', 'k8s_delete_certificate'),
    # MongoDB data (P6), also inside kubectl exec and sh -c
    ('kubectl exec -n playcode mongodb-0 -- rm -rf /data/db', 'mongo_data_destroy'),
    ("kubectl exec mongodb-0 -n playcode -- sh -c 'rm -rf /data/db/*'", 'mongo_data_destroy'),
    ('find /var/lib/mongodb -name "*.wt" -delete', 'mongo_data_destroy'),
    ('docker exec mongo mv /data/db /data/db.old', 'mongo_data_destroy'),
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
    'kubectl get certificate -n playcode',
    'kubectl -n playcode describe certificate playcode-tls',
    'kubectl delete pods -l app=playcode-app -n playcode',
    'kubectl exec -n playcode mongodb-0 -- df -h /data/db',
    'kubectl exec -n playcode mongodb-0 -- rm -rf /tmp/restore',
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


# --- Bypass classes: each lists refused forms (with the rule) and allowed look-alikes. ---

BYPASS_CLASSES: dict[str, tuple[list[tuple[str, str]], list[str]]] = {
    'bundled options of sudo, su, runuser': (
        [
            ('sudo -iu postgres dropdb o4o_platform', 'drop_live_database'),
            ('sudo -u postgres dropdb o4o_platform', 'drop_live_database'),
            ('sudo -Hu postgres dropdb o4o_platform', 'drop_live_database'),
            ('sudo -EHu postgres -- dropdb o4o_platform', 'drop_live_database'),
            ('sudo -upostgres dropdb o4o_platform', 'drop_live_database'),
            ("su -lc 'dropdb o4o_platform' postgres", 'drop_live_database'),
            ("su postgres -c 'dropdb o4o_platform'", 'drop_live_database'),
            ('su - postgres -c "dropdb o4o_platform"', 'drop_live_database'),
            ("su -s /bin/sh -c 'docker volume prune -f' deploy", 'docker_volume_prune'),
            ('runuser -u postgres -- dropdb o4o_platform', 'drop_live_database'),
            ('runuser -u postgres dropdb o4o_platform', 'drop_live_database'),
            ('doas -u postgres dropdb o4o_platform', 'drop_live_database'),
            ('xargs -I{} -n1 docker volume rm {}', 'docker_volume_rm'),
            ('echo o4o_platform | xargs dropdb', 'drop_live_database'),
            ('nsenter -t 1 -m -- rm -rf /var/lib/postgresql/data', 'pgdata_destroy'),
        ],
        [
            'sudo -iu postgres psql -c "select 1"',
            'sudo -Hu postgres pg_dump -Fc -f /backup/o4o.dump o4o_platform',
            "su -lc 'pg_isready' postgres",
            'runuser -u postgres -- dropdb o4o_platform_restore',
            'echo o4o_platform_broken_1 | xargs dropdb',
        ],
    ),
    'scripts and stdin fed to database shells': (
        [
            ('psql -f drop.sql', 'database_shell_script'),
            ('psql --file=drop.sql o4o_platform', 'database_shell_script'),
            ('psql -d o4o_platform < drop.sql', 'database_shell_script'),
            ('cat x.sql | psql', 'database_shell_script'),
            ('zcat dump.sql.gz | psql -d o4o_platform', 'database_shell_script'),
            ("psql -c '\\i /tmp/drop.sql'", 'database_shell_script'),
            ("echo 'DROP DATABASE o4o_platform' | psql", 'drop_live_database'),
            ("printf 'DROP DATABASE %s;' o4o_platform | sudo -u postgres psql", 'drop_live_database'),
            ('psql <<EOF\nDROP DATABASE o4o_platform;\nEOF', 'drop_live_database'),
            ("psql <<'SQL'\nselect 1;\nDROP DATABASE \"o4o_platform\";\nSQL", 'drop_live_database'),
            ("psql <<< 'DROP DATABASE o4o_platform'", 'drop_live_database'),
            ('mongosh < cleanup.js', 'database_shell_script'),
            ('mongosh playcode cleanup.js', 'database_shell_script'),
            ('mongosh --file cleanup.js', 'database_shell_script'),
            ("mongosh --eval \"load('cleanup.js')\"", 'database_shell_script'),
            ("echo 'db.dropDatabase()' | mongosh playcode", 'drop_live_database'),
            ('redis-cli < commands.txt', 'database_shell_script'),
            ('echo FLUSHALL | redis-cli', 'redis_flush'),
            ('mysql fragrance_ai < drop.sql', 'database_shell_script'),
            ("mysql -e 'source /tmp/drop.sql' fragrance_ai", 'database_shell_script'),
            ("mysql -e 'DROP SCHEMA fragrance_ai'", 'drop_live_database'),
            ('docker exec -i db psql -U postgres < drop.sql', 'database_shell_script'),
        ],
        [
            "echo 'select count(*) from users' | psql -d o4o_platform",
            'psql -d o4o_platform <<EOF\nselect 1;\nEOF',
            'psql -d o4o_platform_restore -f /backup/schema.sql',
            'pg_dump -Fp o4o_platform | psql -d o4o_platform_restore',
            'psql -l',
            'psql -c "select 1" < /dev/null',
            'echo ping | redis-cli',
            'mongosh --quiet --eval "db.adminCommand({ping: 1})"',
            'mysql -e "show databases"',
        ],
    ),
    'eval, nested interpreters and shell syntax': (
        [
            ('eval "docker volume prune -f"', 'docker_volume_prune'),
            ('eval docker volume "prune" -f', 'docker_volume_prune'),
            ("eval 'docker compose' down -v", 'compose_down_volumes'),
            ('bash -o pipefail -c "docker volume prune -f"', 'docker_volume_prune'),
            ('bash <<EOF\ndocker volume prune -f\nEOF', 'docker_volume_prune'),
            ("echo 'docker volume rm data' | sh", 'docker_volume_rm'),
            ('{ docker volume prune -f; }', 'docker_volume_prune'),
            ('if true; then docker volume rm data; fi', 'docker_volume_rm'),
            ('(true);docker volume rm data', 'docker_volume_rm'),
            ("ssh db1 'sudo -iu postgres dropdb o4o_platform'", 'drop_live_database'),
            ("watch -n 5 'docker volume prune -f'", 'docker_volume_prune'),
            ("alias clean='docker volume prune -f'; clean", 'docker_volume_prune'),
            ('psql -c "\\! rm -rf /var/lib/postgresql/15/main"', 'pgdata_destroy'),
            ("psql -c \"COPY t FROM PROGRAM 'rm -rf /var/lib/postgresql/data'\"", 'pgdata_destroy'),
        ],
        [
            'eval "echo ready"',
            "bash -c 'docker compose ps'",
            'bash /opt/scripts/report.sh',
            'ssh db1 uptime',
            "watch -n 5 'docker compose ps'",
            'echo "docker volume prune -f" > note.txt',
        ],
    ),
    'variables and substitutions as the command name': (
        [
            ('X=docker; $X volume prune -f', 'docker_volume_prune'),
            ('export D=/var/lib/postgresql; rm -rf "$D"', 'pgdata_destroy'),
            ('$(echo docker) volume prune -f', 'dynamic_command_name'),
            ('"$DOCKER" volume prune -f', 'dynamic_command_name'),
            ('`which docker` volume prune -f', 'dynamic_command_name'),
            ('eval "$(ssh-agent -s)"', 'dynamic_command_name'),
        ],
        [
            'X=1; echo $X',
            '"${PG_BIN}/pg_isready" -h 127.0.0.1',
            'kill $(cat /run/app.pid)',
        ],
    ),
    'working directory before relative deletes': (
        [
            ('cd /var/lib && rm -rf postgresql', 'pgdata_destroy'),
            ('cd /var/lib/postgresql/15 && rm -rf main', 'pgdata_destroy'),
            ('cd /var/lib/postgresql/15/main; rm -rf ./*', 'pgdata_destroy'),
            ('pushd /var/lib/postgresql && find . -delete', 'pgdata_destroy'),
            ('cd /var/lib; cd postgresql; mv 15 /tmp/old', 'pgdata_destroy'),
            ('sudo -D /var/lib rm -rf postgresql', 'pgdata_destroy'),
            ('sudo --chdir=/var/lib rm -rf postgresql', 'pgdata_destroy'),
            ('env -C /var/lib/postgresql rm -rf 15', 'pgdata_destroy'),
            ('env --chdir /var/lib rm -rf postgresql', 'pgdata_destroy'),
            ('cd "$PGDATA" && rm -rf *', 'pgdata_destroy'),
            ('cd "$WORK" && rm -rf data', 'pgdata_destroy'),
            ('sudo -iu postgres rm -rf 15/main', 'pgdata_destroy'),
            ('rm -rf pg_wal', 'pgdata_destroy'),
            ('rm -rf /var/lib', 'pgdata_destroy'),
            ('rm -rf /', 'pgdata_destroy'),
            ('mv /var/lib /var/lib.old', 'pgdata_destroy'),
            ('find / -name "*.pid" -delete', 'pgdata_destroy'),
        ],
        [
            'cd /srv/app && rm -rf dist node_modules',
            'cd /tmp && rm -rf sre-restore-work',
            '(cd /var/lib/postgresql); cd /tmp && rm -rf main',
            'cd /var/lib/postgresql | rm -f /tmp/x',
            'cd /var/lib/postgresql && ls -la',
            'rm -f /backup/o4o/o4o_backup_1.tar.gz',
            'rm -f *.log',
            'find /backup/postgres -name "*.dump" -mtime +7 -delete',
        ],
    ),
    'destructive statements inside exec wrappers': (
        [
            ("kubectl exec -n playcode mongodb-0 -- mongosh --eval 'db.dropDatabase()'", 'drop_live_database'),
            (
                "kubectl exec mongodb-0 -n playcode -c mongo -- mongosh playcode --eval 'db.dropDatabase()'",
                'drop_live_database',
            ),
            ("kubectl exec mongodb-0 -n playcode mongosh --eval 'db.dropDatabase()'", 'drop_live_database'),
            (
                "kubectl -n playcode exec -it mongodb-0 -- mongosh --eval 'db.runCommand({dropDatabase: 1})'",
                'drop_live_database',
            ),
            ('mongosh --eval "db.getSiblingDB(\'playcode\').dropDatabase()"', 'drop_live_database'),
            ("mongosh --eval 'use playcode; db.dropDatabase()'", 'drop_live_database'),
            ("mongosh playcode --eval 'db.users.drop()'", 'mongo_drop_collection'),
            ("mongosh playcode --eval \"db.getCollection('users').drop()\"", 'mongo_drop_collection'),
            ("mongosh playcode --eval 'db.sessions.deleteMany({})'", 'mongo_drop_collection'),
            ("docker exec db psql -U postgres -c 'DROP DATABASE o4o_platform'", 'drop_live_database'),
            ("docker compose exec -T postgres psql -d qa_arena -c 'DROP SCHEMA public CASCADE'", 'drop_schema'),
            ("psql -d o4o_platform -c 'DROP SCHEMA IF EXISTS app CASCADE'", 'drop_schema'),
            ("psql -d o4o_platform -c 'DROP OWNED BY app_user'", 'drop_schema'),
            ("psql -d o4o_platform -c 'TRUNCATE users, orders'", 'truncate_live_tables'),
            ("psql -c 'drop /* x */ database o4o_platform'", 'drop_live_database'),
            ('psql -c "DROP\nDATABASE o4o_platform"', 'drop_live_database'),
            ('psql -c "DROP DATABASE $DB"', 'drop_live_database'),
            ("psql -c 'DROP DATABASE :target'", 'drop_live_database'),
            ("psql -d o4o_platform_restore -c '\\c o4o_platform' -c 'DROP SCHEMA public CASCADE'", 'drop_schema'),
            ('kubectl exec redis-0 -- redis-cli FLUSHALL', 'redis_flush'),
            ('kubectl exec redis-0 -n cache redis-cli flushdb', 'redis_flush'),
            ("docker exec redis redis-cli EVAL \"return redis.call('FLUSHALL')\" 0", 'redis_flush'),
            ('oc rsh redis-0 redis-cli FLUSHALL', 'redis_flush'),
        ],
        [
            'kubectl exec -n playcode mongodb-0 -- mongosh --eval "rs.status()"',
            "kubectl exec -n playcode mongodb-0 -- mongosh --eval 'db.users.dropIndex(\"email_1\")'",
            "mongosh playcode_restore --eval 'db.dropDatabase()'",
            "mongosh --eval \"db.getSiblingDB('playcode_rehearsal').dropDatabase()\"",
            "mongosh playcode_restore --eval 'db.users.drop()'",
            "docker exec db psql -U postgres -c 'DROP DATABASE o4o_platform_broken_20250101'",
            "psql -d o4o_platform_restore -c 'DROP SCHEMA public CASCADE'",
            "psql -d o4o_platform_restore -c 'TRUNCATE users'",
            "psql -d o4o_platform -c 'DROP SCHEMA old_reports'",
            'kubectl exec redis-0 -- redis-cli DBSIZE',
            'kubectl logs -n playcode mongodb-0 --tail 100',
        ],
    ),
}
CLASS_REFUSED = [(name, command, rule) for name, (refused, _ok) in BYPASS_CLASSES.items() for command, rule in refused]
CLASS_ALLOWED = [(name, command) for name, (_bad, allowed) in BYPASS_CLASSES.items() for command in allowed]


@pytest.mark.parametrize(('kind', 'command', 'rule'), CLASS_REFUSED, ids=[f'{k}: {c}' for k, c, _r in CLASS_REFUSED])
def test_bypass_classes_are_refused(kind, command, rule):
    verdict = evaluate(command)
    assert not verdict['allowed'], f'{kind}: {verdict}'
    assert rule in {v['rule'] for v in verdict['violations']}, verdict['reason']


@pytest.mark.parametrize(('kind', 'command'), CLASS_ALLOWED, ids=[f'{k}: {c}' for k, c in CLASS_ALLOWED])
def test_bypass_classes_keep_legitimate_forms(kind, command):
    verdict = evaluate(command)
    assert verdict['allowed'], f'{kind}: {verdict["reason"]}'


def test_every_bypass_class_has_both_sides():
    assert all(len(refused) >= 5 and len(allowed) >= 3 for refused, allowed in BYPASS_CLASSES.values())


@pytest.mark.parametrize(
    ('command', 'stdin', 'cwd', 'allowed'),
    [
        ('psql', 'DROP DATABASE o4o_platform;', None, False),
        ('psql -d o4o_platform', 'select 1;', None, True),
        (['redis-cli'], 'FLUSHALL\n', None, False),
        ('rm -rf main', None, '/var/lib/postgresql/15', False),
        (['rm', '-rf', 'dist'], None, '/srv/app', True),
        ('find . -delete', None, '/var/lib/postgresql/15/main', False),
    ],
)
def test_stdin_and_chdir_of_the_task_are_judged(command, stdin, cwd, allowed):
    assert evaluate(command, stdin=stdin, cwd=cwd)['allowed'] is allowed


def test_the_new_rules_can_be_disabled_per_inventory():
    policy = merge_policy({'rules_disabled': ['database_shell_script', 'truncate_live_tables']})
    assert evaluate('psql -d o4o_platform -f migrate.sql', policy)['allowed']
    assert evaluate("psql -d o4o_platform -c 'TRUNCATE job_queue'", policy)['allowed']
    assert not evaluate("echo 'DROP DATABASE o4o_platform' | psql", policy)['allowed']


# --- The collection's own safe_command calls stay allowed. ---

ROOT = Path(__file__).resolve().parents[4]
SAFE_COMMAND = {'sre.runbooks.safe_command', 'safe_command'}


def _safe_command_tasks(node: Any, inherited: dict[str, Any] | None = None) -> Iterator[dict[str, Any]]:
    """The safe_command tasks of a task file or playbook, each with the vars of the plays
    and blocks around it merged under its own."""
    inherited = inherited or {}
    if isinstance(node, list):
        for item in node:
            yield from _safe_command_tasks(item, inherited)
    elif isinstance(node, dict):
        scoped = {**inherited, **(node.get('vars') or {})}
        if SAFE_COMMAND & set(node):
            yield {**node, 'vars': scoped}
        for key in ('block', 'rescue', 'always', 'tasks', 'pre_tasks', 'post_tasks', 'handlers'):
            yield from _safe_command_tasks(node.get(key), scoped)


def _environment() -> NativeEnvironment:
    env = NativeEnvironment()
    env.filters.update(CoreFilters().filters())
    env.tests.update(CoreTests().tests())
    # Jinja's own default (ansible-core's expects its own Undefined type).
    env.filters['default'] = env.filters['d'] = JINJA_FILTERS['default']
    env.filters.update({f'sre.runbooks.{name}': f for name, f in ComposeFilters().filters().items()})
    return env


def _render(env: NativeEnvironment, value: Any, variables: dict[str, Any]) -> Any:
    if isinstance(value, str) and '{{' in value:
        return env.from_string(value).render(variables)
    if isinstance(value, list):
        return [_render(env, item, variables) for item in value]
    if isinstance(value, dict):
        return {key: _render(env, item, variables) for key, item in value.items()}
    return value


def _stack_variables(env: NativeEnvironment, stack: str, extra: dict[str, Any]) -> dict[str, Any]:
    variables: dict[str, Any] = {}
    for defaults in sorted(ROOT.glob('roles/*/defaults/main.yml')):
        variables.update(yaml.safe_load(defaults.read_text()) or {})
    variables.update(yaml.safe_load((ROOT / 'playbooks' / 'group_vars' / f'{stack}.yml').read_text()))
    variables.update(extra)
    common = yaml.safe_load((ROOT / 'roles/compose_common/tasks/main.yml').read_text())
    facts = next(
        task['ansible.builtin.set_fact'] for task in common if 'compose_cli' in task.get('ansible.builtin.set_fact', {})
    )
    variables['compose_cli'] = _render(env, facts['compose_cli'], variables)
    # Facts other roles settle at run time, in the form their preflight gives them.
    variables['__pm2_app_install'] = ['pnpm', 'install', '--frozen-lockfile']
    variables['__compose_targets'] = {'worker-llm': 2, 'worker-rl': 2}
    variables['__compose_scale_since'] = {'stdout': '2026-12-04T00:00:00Z'}
    return variables


def _rendered_calls() -> Iterator[tuple[str, Any]]:
    env = _environment()
    files = sorted([*ROOT.glob('roles/*/tasks/**/*.yml'), *ROOT.glob('playbooks/*.yml')])
    for stack in ('qa_arena', 'fragrance'):
        for state in ('on', 'off'):
            variables = _stack_variables(
                env, stack, {'compose_maintenance_state': state, '__compose_service': 'backend'}
            )
            for path in files:
                for task in _safe_command_tasks(yaml.safe_load(path.read_text())):
                    args = task.get('sre.runbooks.safe_command') or task.get('safe_command')
                    local = dict(variables)
                    for name, value in (task.get('vars') or {}).items():
                        local[name] = _render(env, value, local)
                    items = _render(env, task.get('loop', [None]), local)
                    for item in items.items() if isinstance(items, dict) else items:
                        scope = {**local, 'item': item}
                        command = _render(env, args.get('cmd', args.get('argv')), scope)
                        yield f'{path.relative_to(ROOT)}: {task["name"]} ({stack}, {state})', command


RENDERED_CALLS = list(_rendered_calls())


def test_every_safe_command_task_was_rendered():
    assert len({where.split(' (')[0] for where, _command in RENDERED_CALLS}) >= 12


@pytest.mark.parametrize(('where', 'command'), RENDERED_CALLS, ids=[where for where, _c in RENDERED_CALLS])
def test_the_collections_own_safe_command_calls_are_allowed(where, command):
    assert isinstance(command, (list, str)) and command, f'{where} did not render: {command!r}'
    verdict = evaluate(command)
    assert verdict['allowed'], f'{where}: {verdict["reason"]}'
