# The one dev loop: make install | serve | test | check | bench
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 9000
DATA_DIR ?= .lambox
LOCK := requirements.lock

.PHONY: install serve test check bench clean lock sam-cli

RUNTIME_INIT := src/lambox/runtime/pid1

install: $(VENV)/.installed examples/thumbnail/.vendored $(RUNTIME_INIT)

# A Python sandbox's pid 1, compiled (src/lambox/runtime/init.c; runtime/init.py says why):
# static, so it maps no shared library and holds only its own few pages; without the C library
# where init.c can (its start-up is most of the program's CPU), else with it.
$(RUNTIME_INIT): src/lambox/runtime/init.c
	@(command -v cc >/dev/null && test -f /usr/include/stdio.h) || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q gcc libc6-dev)
	cc -O2 -static -nostdlib -ffreestanding -fno-stack-protector -DLAMBOX_NOLIBC -s -o $@ $< \
		|| cc -O2 -static -s -o $@ $<

# The thumbnail example packages Pillow as Lambda users do: its manylinux wheel's files
# beside the handler, in the deployment package.
PILLOW ?= pillow==11.3.0
examples/thumbnail/.vendored: $(VENV)/.installed
	$(PY) -m pip install -q --no-deps --only-binary=:all: --platform manylinux2014_x86_64 \
		--python-version 3.11 --target examples/thumbnail --upgrade $(PILLOW)
	@touch $@

$(VENV)/.installed: pyproject.toml $(LOCK)
	@$(PYTHON) -m venv --help >/dev/null 2>&1 || (apt-get update -q && apt-get install -y -q python3-venv)
	@test -x /usr/bin/aws || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q awscli)
	@command -v curl >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q curl)
	@command -v node >/dev/null || (apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q nodejs)
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade -c $(LOCK) pip hatchling editables
	$(PY) -m pip install -q --no-build-isolation -c $(LOCK) -e '.[dev]'
	@touch $@

# The AWS SAM CLI, for tests/integration/test_sam_cli.py (`sam build && sam deploy` against
# lambox). Its own venv: it pins its own aws-sam-translator and boto3, other versions than
# lambox's lock. `make test` installs it (about two minutes, once); the test makes it too
# when it is absent.
SAM_VENV ?= .venv-sam
SAM_CLI ?= aws-sam-cli==1.170.0
sam-cli: $(SAM_VENV)/bin/sam

$(SAM_VENV)/bin/sam:
	$(PYTHON) -m venv $(SAM_VENV)
	$(SAM_VENV)/bin/python -m pip install -q $(SAM_CLI)
	@test -x $@

serve: install
	$(VENV)/bin/lambox serve --host $(HOST) --port $(PORT) --data-dir $(DATA_DIR) --examples examples

test: install sam-cli
	$(PY) -m pytest -q -p no:cacheprovider

check: install
	$(VENV)/bin/ruff check src tests bench
	$(VENV)/bin/ruff format --check src tests bench
	$(VENV)/bin/mypy
	$(VENV)/bin/lint-imports

bench: install
	$(PY) bench/run.py --out bench/results.json

# Re-pin every dependency to what the public index serves today: a scratch venv that ignores
# this machine's pip configuration (local indexes, wheel folders), then its exact versions.
# hatchling and editables are pinned too: they build lambox's own editable install.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/pip install --isolated -q --upgrade pip hatchling editables
	.lock-venv/bin/pip install --isolated -q '.[dev]'
	{ sed -n '/^#/p' $(LOCK); .lock-venv/bin/pip freeze --isolated --all --exclude lambox \
	  --exclude setuptools; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) $(SAM_VENV) $(RUNTIME_INIT) .lock-venv $(DATA_DIR) .mypy_cache .ruff_cache .pytest_cache
	git clean -fdX examples/thumbnail
