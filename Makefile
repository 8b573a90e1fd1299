# The one dev loop: make install | serve | test | check | bench
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 9000
DATA_DIR ?= .lambox

.PHONY: install serve test check bench clean

install: $(VENV)/.installed examples/thumbnail/.vendored

# The thumbnail example packages Pillow as Lambda users do: its manylinux wheel's files
# beside the handler, in the deployment package.
PILLOW ?= pillow==11.3.0
examples/thumbnail/.vendored: $(VENV)/.installed
	$(PY) -m pip install -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
		--python-version 3.11 --target examples/thumbnail --upgrade $(PILLOW)
	@touch $@

$(VENV)/.installed: pyproject.toml
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q python3-venv)
	@test -x /usr/bin/aws || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q awscli)
	@command -v curl >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl)
	@command -v node >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	@touch $@

serve: install
	$(VENV)/bin/lambox serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR) --examples examples

test: install
	$(PY) -m pytest -q -p no:cacheprovider

check: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install
	$(PY) bench/run.py --out bench/results.json

clean:
	rm -rf $(VENV) $(DATA_DIR) .mypy_cache .ruff_cache .pytest_cache
	git clean -fdX examples/thumbnail
