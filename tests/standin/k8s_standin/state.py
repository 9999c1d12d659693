# SPDX-License-Identifier: GPL-3.0-or-later
"""Everything one Kubernetes API stand-in process holds: the store, the tables tests set through
/_standin/ (image behaviours, exec rules, log lines) and the request log."""

from __future__ import annotations

import copy
import fnmatch

import yaml

from . import resources
from .defaults import apply_defaults
from .errors import ApiError
from .store import Store

# Image behaviours: matched by glob on the whole image reference, first match wins; tests' entries go first.
DEFAULT_IMAGES = {
    '*:crashloop*': {'behaviour': 'crashloop'},
    '*:bad*': {'behaviour': 'crashloop'},
    '*:pullerror*': {'behaviour': 'pullerror'},
    '*:fail*': {'behaviour': 'fail', 'after': 0.5, 'logs': ['starting', 'error: exit status 1']},
    '*mongo*backup*': {
        'behaviour': 'succeed',
        'after': 0.5,
        'logs': [
            'writing playcode.users to archive',
            'writing playcode.sessions to archive',
            'done dumping playcode.users (42 documents)',
            'done dumping playcode.sessions (7 documents)',
            'done',
        ],
    },
    '*': {'behaviour': 'ready'},
}
BEHAVIOURS = ('ready', 'crashloop', 'pullerror', 'succeed', 'fail')


def parse_objects(text_or_objects) -> list[dict]:
    """Objects from YAML/JSON text (several documents, a List, or one object) or from Python values."""
    if isinstance(text_or_objects, (str, bytes)):
        docs = list(yaml.safe_load_all(text_or_objects))
    elif isinstance(text_or_objects, dict):
        docs = [text_or_objects]
    else:
        docs = list(text_or_objects)
    objects = []
    for doc in docs:
        if isinstance(doc, list):
            objects.extend(parse_objects(doc))
        elif isinstance(doc, dict) and doc.get('kind', '').endswith('List') and 'items' in doc:
            objects.extend(doc['items'])
        elif doc:
            objects.append(doc)
    return objects


def _behaviour(entry) -> dict:
    entry = {'behaviour': entry} if isinstance(entry, str) else dict(entry)
    if entry.get('behaviour', 'ready') not in BEHAVIOURS:
        raise ApiError(400, f'unknown behaviour {entry.get("behaviour")!r}; known: {", ".join(BEHAVIOURS)}')
    return entry


class State:
    def __init__(self, seed_text: str = ''):
        self.store = Store()
        self.seed_text = seed_text
        self.requests: list[dict] = []
        self.images: dict[str, dict] = {}
        self.exec_rules: list[dict] = []
        self.log_lines: dict[str, list[str]] = {}
        # The metrics API's usage table ({'pods': {glob: {cpu, memory}}, 'nodes': {...}}); None: not served.
        self.metrics: dict | None = None
        # API groups a test has switched off (/_standin/groups): not in discovery, their paths answer 404.
        self.unserved: set[str] = set()
        self.port = 0

    def reset(self, empty: bool = False):
        self.store.clear()
        self.images, self.exec_rules, self.log_lines, self.metrics = {}, [], {}, None
        self.unserved = set()
        self.requests.clear()
        if not empty and self.seed_text:
            self.seed(self.seed_text)

    def seed(self, text_or_objects) -> list[dict]:
        """Create or replace objects as given, status included (as if controllers had written it)."""
        created = []
        for obj in parse_objects(text_or_objects):
            res = resources.by_kind(obj.get('apiVersion', ''), obj.get('kind', ''))
            if res is None:
                raise ApiError(400, f'the stand-in does not serve {obj.get("apiVersion")} {obj.get("kind")}')
            meta = obj.get('metadata', {})
            ns = meta.get('namespace', 'default') if res.namespaced else ''
            if self.store.find(res, ns, meta.get('name', '')) is not None:
                self.store.delete(res, ns, meta['name'])
            prepared = apply_defaults(self.store.prepare_create(res, copy.deepcopy(obj), ns))
            created.append(self.store.put(res, prepared))
        return created

    def set_images(self, table: dict):
        self.images = {**{glob: _behaviour(entry) for glob, entry in table.items()}, **self.images}

    def image_behaviour(self, image: str) -> dict:
        for table in (self.images, DEFAULT_IMAGES):
            for glob, entry in table.items():
                if fnmatch.fnmatchcase(image, glob):
                    return entry
        return {'behaviour': 'ready'}

    def logs_for(self, pod: dict, container: str) -> list[str] | None:
        """Lines set for this pod (by name glob, optionally 'glob/container'), else None."""
        name = pod['metadata']['name']
        for pattern, lines in reversed(list(self.log_lines.items())):
            glob, _slash, wanted = pattern.partition('/')
            if fnmatch.fnmatchcase(name, glob) and wanted in ('', container):
                return lines
        return None

    def record(self, entry: dict):
        self.requests.append(entry)
