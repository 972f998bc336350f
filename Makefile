# Task Tracker — the two commands are `make run` and `make test`.
# Both work on a machine where nothing is running: uv is installed with pip when missing,
# and NATS / PostgreSQL are started embedded unless TT_NATS_URL / TT_DATABASE_URL are given.

SHELL := /bin/bash
UV := $(shell command -v uv 2>/dev/null || echo python3 -m uv)
PYTEST_ARGS ?=

.PHONY: env run demo test lint fmt bench eval openapi fuzz clean

env: .venv/.synced

.venv/.synced: pyproject.toml uv.lock libs/*/pyproject.toml services/*/pyproject.toml
	@command -v uv >/dev/null 2>&1 || python3 -m uv --version >/dev/null 2>&1 \
		|| python3 -m pip install --quiet uv
	# compiled once here: the environment may forbid writing .pyc at import, and importing
	# pydantic-ai, SQLAlchemy and friends from source costs every process seconds at start
	$(UV) sync --frozen --compile-bytecode
	@touch $@

run: env
	$(UV) run --frozen tasktracker-dev run

# against a running `make run` (another terminal): extract, approve, run, decide, close — live
demo: env
	$(UV) run --frozen tasktracker-dev demo

lint: env
	$(UV) run --frozen ruff check .
	$(UV) run --frozen ruff format --check .
	$(UV) run --frozen lint-imports

fmt: env
	$(UV) run --frozen ruff format .
	$(UV) run --frozen ruff check --fix .

# pytest exits 5 when it collected nothing: for this suite that is a failure, never a pass.
test: env
	$(UV) run --frozen ruff check .
	$(UV) run --frozen lint-imports
	$(UV) run --frozen pytest $(PYTEST_ARGS); status=$$?; \
		if [ $$status -eq 5 ]; then echo "pytest collected no tests" >&2; exit 1; fi; \
		exit $$status

# The public OpenAPI the gateway serves (services/ws-gateway/.../gateway/openapi.json), rebuilt
# from the services' own schemas; commit it (a test fails while it is stale).
openapi: env
	$(UV) run --frozen python -m tools.public_openapi

# A long fuzz run over the public OpenAPI through the gateway, against the whole stack as real
# processes: every boundary and negative case of every parameter, then FUZZ_EXAMPLES random
# cases per operation; fails on a server error or a status the document does not list.
FUZZ_EXAMPLES ?= 100
fuzz: env
	TT_FUZZ_PHASES=examples,coverage,fuzzing TT_FUZZ_MAX_EXAMPLES=$(FUZZ_EXAMPLES) \
		$(UV) run --frozen pytest tests/e2e/test_public_api.py -k fuzzing -s -q --timeout 3600

# wrk generates the HTTP load when it is installed (or installable: root with apt-get);
# without it the benchmarks use Python client processes.
bench: env
	@command -v wrk >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
		&& apt-get install -y -qq wrk >/dev/null 2>&1; } \
		|| echo "wrk not found: the benchmarks use Python load generators"
	$(UV) run --frozen python -m bench

# extraction quality on the labelled chats in eval/chats: offline rules and the naive baseline,
# no network; TT_LLM_MODEL=<pydantic-ai model string> scores a real model the same way
eval: env
	$(UV) run --frozen python -m eval

clean:
	rm -rf .venv .data
