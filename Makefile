.PHONY: run test lint

# pytest arguments for `make test`, e.g. make test ARGS="-k storage -x"
ARGS ?=

run:
	bash scripts/run.sh

test:
	bash scripts/test.sh $(ARGS)

# Lint only; the virtualenv comes from scripts/test.sh (or is made here on first use).
lint: .venv/bin/ruff
	.venv/bin/ruff check .

.venv/bin/ruff:
	python3 -m venv .venv
	.venv/bin/python -m pip install -q -e ".[test,server]"
