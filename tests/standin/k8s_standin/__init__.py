# SPDX-License-Identifier: GPL-3.0-or-later
"""A Kubernetes API stand-in for API-contract tests, not a cluster.

One aiohttp process that answers the REST requests kubectl 1.31, the kubernetes python client and
kubernetes.core send (docs/design/playcode_k8s_standin.md): discovery, get/list/watch/create/update/
patch/delete with dryRun, a few controllers (Deployment, ReplicaSet, StatefulSet, Job) and a fake
kubelet driven by an image-behaviour table, pod logs, and exec over WebSocket with canned answers.
Test-only control endpoints live under /_standin/.
"""
