# SPDX-License-Identifier: GPL-3.0-or-later
"""Run the Kubernetes API stand-in (for API-contract tests, not a cluster):

    python -m tests.standin.k8s_standin --host 127.0.0.1 --port 0 --seed FILE \\
        --kubeconfig-out PATH --ready-file PATH

Once the seed has rolled out it writes a kubeconfig (context "standin", plain http, no credentials)
and then the ready file, JSON {"url", "port", "pid"}. It stops on SIGTERM or SIGINT.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
import signal
import socket
from pathlib import Path

from aiohttp import web

from .app import make_app
from .controllers import Controllers
from .state import State

KUBECONFIG = """apiVersion: v1
kind: Config
clusters:
- name: standin
  cluster:
    server: {url}
users:
- name: standin
  user: {{}}
contexts:
- name: standin
  context:
    cluster: standin
    user: standin
    namespace: {namespace}
current-context: standin
preferences: {{}}
"""


def _write(path: str, text: str):
    target = Path(path)
    partial = target.with_name(target.name + '.partial')
    partial.write_text(text)
    partial.replace(target)


async def serve(args):
    state = State(Path(args.seed).read_text() if args.seed else '')
    state.reset()
    controllers = Controllers(state)
    app = make_app(state)
    app['controllers'] = controllers
    runner = web.AppRunner(app, access_log=None, handler_cancellation=True)
    await runner.setup()
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind((args.host, args.port))
    await web.SockSite(runner, sock).start()
    port = sock.getsockname()[1]
    url = f'http://{args.host}:{port}'
    await controllers.settle()
    state.requests.clear()
    loop_task = asyncio.create_task(controllers.run())
    if args.kubeconfig_out:
        _write(args.kubeconfig_out, KUBECONFIG.format(url=url, namespace=args.namespace))
    if args.ready_file:
        _write(args.ready_file, json.dumps({'url': url, 'port': port, 'pid': os.getpid()}))
    stop = asyncio.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        asyncio.get_running_loop().add_signal_handler(signum, stop.set)
    await stop.wait()
    loop_task.cancel()
    await runner.cleanup()


def main(argv=None):
    parser = argparse.ArgumentParser(prog='k8s_standin', description=__doc__.splitlines()[0])
    parser.add_argument('--host', default='127.0.0.1')
    parser.add_argument('--port', type=int, default=0)
    parser.add_argument('--seed', help='YAML objects to start with (and to return to on /_standin/reset)')
    parser.add_argument('--namespace', default='playcode', help="the kubeconfig context's namespace")
    parser.add_argument('--kubeconfig-out')
    parser.add_argument('--ready-file')
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format='k8s_standin: %(levelname)s %(message)s')
    asyncio.run(serve(args))


if __name__ == '__main__':
    main()
