# One entry point for every check and for the lab. `make help` lists the targets.
# Everything runs from the pinned venv that `make setup` builds (.venv).
SHELL := /bin/bash
VENV ?= $(CURDIR)/.venv
export PATH := $(VENV)/bin:$(PATH)
export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg
export PY_COLORS := 0
export ANSIBLE_FORCE_COLOR := 0

.PHONY: help setup lab lab-down drill bench bench-quick lint docs sanity units ee molecule integration jobs build test

help:  ## List the targets
	@grep -E '^[a-z-]+:.*##' $(MAKEFILE_LIST) | sed 's/:.*## /\t/' | column -t -s $$'\t'

setup:  ## Install packages, the compose plugin and the venv; start dockerd; build images
	scripts/setup.sh all

lab: setup  ## Bring up the O4O lab (api and web hosts over SSH)
	lab/lab.sh up

lab-down:  ## Remove the lab: containers, network, nothing left running
	lab/lab.sh down

drill: lab  ## The main job: back up, break and recover the O4O database on the lab; print the report
	scripts/drill.sh

bench: lab  ## Benchmarks of the recovery path (about 15 min): bench/results/latest.json and .md
	python bench/run.py $(BENCH_ARGS)

bench-quick: lab  ## The benchmarks at small sizes, once: the scripts work, no write lost, re-run changes nothing
	python bench/run.py --quick --check --out $(CURDIR)/.cache/bench/quick

lint:  ## ansible-lint (production profile), yamllint, ruff
	scripts/setup.sh venv
	yamllint --strict .
	shellcheck scripts/*.sh lab/*.sh lab/images/*.sh lab/images/stack/stack-postgres lab/stacks/*.sh .ci/run
	ansible-lint --offline
	ruff check .
	ruff format --check .
	antsibull-changelog lint
	scripts/docs.sh lint
	python scripts/awx_surveys.py --check

docs:  ## Check the plugin and role docs, then build the HTML site in .cache/docs/site/build/html
	scripts/setup.sh venv
	scripts/docs.sh site

sanity:  ## ansible-test sanity on the collection in an ansible_collections tree
	scripts/setup.sh venv
	scripts/sanity.sh

UNIT_JOBS ?= 2
units:  ## pytest unit tests (real HTTP, Redis and PostgreSQL servers on loopback), UNIT_JOBS side by side
	scripts/setup.sh host
	scripts/setup.sh venv
	pytest tests/unit --numprocesses=$(UNIT_JOBS) --dist=worksteal --durations=10

molecule:  ## Every Molecule scenario's check-mode ladder (check, converge, idempotence, check, verify), two side by side
	scripts/setup.sh docker
	scripts/setup.sh images
	scripts/setup.sh venv
	python scripts/molecule_ladder.py --jobs 2

integration: lab  ## End-to-end tests on the lab through ansible-runner: O4O and compose hosts side by side, then the all-host tests
	scripts/integration.sh

ee: setup  ## Build the execution environment sre-runbooks/ee:latest (skipped when its inputs are unchanged)
	scripts/ee.sh build

jobs: ee lab  ## Every AWX job template run as AWX runs it: ansible-runner with the EE as its container, against the lab
	pytest tests/ee -p no:cacheprovider -m 'not check_job and not rebuild'
	pytest tests/ee -p no:cacheprovider -m check_job --numprocesses=2 --dist=worksteal --durations=20
	pytest tests/ee -p no:cacheprovider -m rebuild

build: lab  ## Build the tarball, install it, run a playbook from it by FQCN
	scripts/build.sh

test:  ## All of the above, cheapest first, fail fast, with a summary
	scripts/test.sh
