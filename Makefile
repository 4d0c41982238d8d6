# Task runner: every tool runs through uv, so versions come from uv.lock.
# CI passes its own uv: `make test UV=.ci/.tools/bin/uv`. Extra arguments: `make run ARGS="--only intake"`.
UV ?= uv
RUN = $(UV) run --frozen
ARGS ?=

.PHONY: install run test lint typecheck bench fmt

install:
	$(UV) sync --frozen

run:
	$(RUN) python -m alamal_stack run $(ARGS)

test:
	$(RUN) pytest $(ARGS)

lint:
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) lint-imports

typecheck:
	$(RUN) mypy contracts/src libs/*/src services/*/src

bench:
	$(RUN) python -m bench $(ARGS)

fmt:
	$(RUN) ruff check --fix .
	$(RUN) ruff format .
