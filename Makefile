# Set-up and the two main commands. `make demo` and `make test` each create .venv when missing.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
PIP := $(VENV)/bin/pip
# The CPU build of PyTorch is installed first so the unpinned dependency is already satisfied.
# Pick another build with e.g. `make TORCH_SPEC="torch==2.13.0 --index-url <your CUDA index>" demo`.
TORCH_SPEC ?= torch==2.13.0
export OMP_NUM_THREADS ?= 2

.PHONY: demo test lint bench clean venv

$(VENV)/.created:
	$(PYTHON) -m venv $(VENV)
	$(PIP) install -q --upgrade pip
	$(PIP) install -q $(TORCH_SPEC)
	touch $@

$(VENV)/.installed: $(VENV)/.created pyproject.toml
	$(PIP) install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed pyproject.toml
	$(PIP) install -q -e '.[test]'
	touch $@

venv: $(VENV)/.installed

demo: $(VENV)/.installed
	$(VENV)/bin/fusioninn demo --out demo-out

# A failing run is repeated once for the failed tests only (--last-failed): a few tests drive real
# subprocesses (SIGKILL timing, torchrun); a real failure fails twice and still fails the target.
test: $(VENV)/.installed-test
	OMP_NUM_THREADS=1 $(PY) -m pytest -q || { echo "rerunning the failed tests once"; \
	  OMP_NUM_THREADS=1 $(PY) -m pytest -q --last-failed --last-failed-no-failures none; }

lint: $(VENV)/.installed-test
	$(VENV)/bin/ruff check src tests benchmarks

bench: $(VENV)/.installed
	$(PY) benchmarks/speed.py --json benchmarks/results/speed.json

clean:
	rm -rf $(VENV) demo-out .pytest_cache
