# Set-up and test entry points. `make demo` runs the simulated site + daemon; `make test` runs every check.
# Both install what they need on a fresh Debian/Ubuntu machine (venv, Python packages, mosquitto).

PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = "0" ] || echo sudo)

.PHONY: demo test lint typecheck unit system-deps venv bench-quick clean

demo: venv
	$(VENV)/bin/zoe-ems demo

test: venv system-deps
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy
	$(VENV)/bin/pytest -q -p no:cacheprovider

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -c 'import ensurepip, venv' 2>/dev/null || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq python3-venv; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $@

system-deps:
	@command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || { $(SUDO) apt-get update -qq && $(SUDO) apt-get install -y -qq mosquitto; }

bench-quick: venv
	for b in bench/*.py; do $(PY) $$b --quick --json | tail -n 1; done

clean:
	rm -rf $(VENV) .mypy_cache .ruff_cache .pytest_cache
