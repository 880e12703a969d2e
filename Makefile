# Two commands set up everything on a fresh machine with Python 3.11+ and make:
#   make demo   — create .venv, install, migrate, build the demo data (SQLite), serve the API
#   make test   — create .venv, install, then lint, type-check, check architecture and run tests

PY ?= $(shell for p in python3.13 python3.12 python3.11 python3; do \
	command -v $$p >/dev/null 2>&1 && $$p -c 'import sys; sys.exit(sys.version_info < (3, 11))' 2>/dev/null \
	&& { command -v $$p; break; }; done)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml requirements.lock setup.py | cksum | cut -d' ' -f1)
# The modules setup.py compiles with mypyc: installing again rebuilds them after they change.
COMPILED := $(shell sed -n 's/^ *"\(src\/.*\.py\)",$$/\1/p' setup.py)
# One test worker per core (pytest-xdist).
PYTEST_ARGS ?= -n auto --durations=25

.PHONY: demo test install lint serve bench lock clean

$(STAMP): pyproject.toml requirements.lock setup.py $(COMPILED)
	@test -n "$(PY)" || { echo "Yipan needs Python 3.11 or newer on the PATH"; exit 1; }
	@echo "==> creating $(VENV) with $(PY)"
	@test -x $(BIN)/python || $(PY) -m venv $(VENV)
	@echo "==> installing pinned dependencies (requirements.lock), compiling the pricing engine and identity rules"
	@find src -name '*.so' -delete  # what a module dropped from setup.py's list left behind
	@$(BIN)/python -m pip install --disable-pip-version-check --progress-bar on -q \
		-c requirements.lock -e '.[dev]'
	@rm -f $(VENV)/.installed-*
	@touch $(STAMP)

install: $(STAMP)

demo: install
	@$(BIN)/yipan db upgrade
	@$(BIN)/yipan demo
	@$(BIN)/yipan serve

serve: install
	@$(BIN)/yipan serve

lint: install
	$(BIN)/ruff check src tests bench setup.py
	$(BIN)/ruff format --check src tests bench setup.py
	$(BIN)/mypy
	$(BIN)/lint-imports

test: lint
	$(BIN)/pytest $(PYTEST_ARGS)

bench: install
	$(BIN)/python -m bench.inventory
	$(BIN)/python -m bench.orders
	$(BIN)/python -m bench.people

# Refresh the lock after changing dependencies in pyproject.toml.
lock: install
	$(BIN)/python -m pip freeze --exclude-editable | grep -v '^yipan' > requirements.lock

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache yipan.db yipan.db-wal yipan.db-shm build
	find src -name '*.so' -delete
