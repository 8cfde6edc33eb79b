# Two entry points, both self-sufficient on a fresh Debian machine (see README.md):
#   make repro   set up, then run the DVC pipeline (embedded synthetic default)
#   make test    set up, then run the test suite
# Set-up is idempotent: system packages are installed only when missing, the virtual env only when
# pyproject.toml changed.

SHELL := /bin/bash
VENV ?= .venv
PY := $(VENV)/bin/python
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
APT_PACKAGES := sox libsox-fmt-all ffmpeg fluidsynth timgm6mb-soundfont chromium-headless-shell bubblewrap
SOUNDFONT := /usr/share/sounds/sf2/TimGM6mb.sf2
PYTEST_ARGS ?=
# pytest-xdist workers: one per core (auto); PYTEST_WORKERS=0 runs in this process (e.g. for --pdb)
PYTEST_WORKERS ?= auto

.PHONY: repro test setup system-deps clean-venv

# REPRO_JOBS processes at a time (the outputs do not depend on it): independent DVC stages run side by side.
REPRO_JOBS ?= $(shell nproc 2>/dev/null || echo 2)
repro: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/amss-bench repro --jobs $(REPRO_JOBS)

# the code-submission sandbox tests must run the bubblewrap backend here (not skip, not fall back)
test: setup
	AMSS_REQUIRE_SANDBOX=bwrap $(PY) -m pytest -n $(PYTEST_WORKERS) $(PYTEST_ARGS)

setup: system-deps $(VENV)/.installed

system-deps:
	@if command -v sox >/dev/null && command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null \
	    && command -v fluidsynth >/dev/null && [ -f $(SOUNDFONT) ] && command -v bwrap >/dev/null \
	    && { command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null; }; then \
	  echo "system packages: present"; \
	else \
	  echo "system packages: installing $(APT_PACKAGES)"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq --no-install-recommends $(APT_PACKAGES); \
	fi

# torch first, pinned, so pip takes the CPU wheel the machines carry and never resolves the CUDA build.
$(VENV)/.installed: pyproject.toml
	@[ -x $(PY) ] || python3 -m venv $(VENV)
	$(PY) -m pip install -q "torch==2.13.0"
	$(PY) -m pip install -q -e ".[test]"
	$(PY) -m pip install -q --no-deps $$($(PY) -c "import tomllib; print(' '.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['optional-dependencies']['reference']))")
	@$(PY) -c "import torch, sys; cuda = torch.version.cuda; print('torch', torch.__version__, 'cuda', cuda); \
	  sys.exit('refusing a CUDA build of torch on this CPU machine' if cuda and not torch.cuda.is_available() else 0)"
	@touch $@

clean-venv:
	rm -rf $(VENV)

# Mutation testing of the core (docs/testing.md): one module at a time, one worker process; not part of `make test`.
# MUTATION_MODULES=dsp aggregate limits the run; verdicts are kept in mutants/ (rm -rf mutants to start over).
MUTATION_MODULES ?=
# MUTATION_JOBS=2: two mutmut worker processes (an otherwise idle 2-core machine); 1 by default, beside other work.
MUTATION_JOBS ?= 1
# MUTATION_SAMPLE=100 [MUTATION_SEED=1]: a seeded random sample of each module's mutants (evaluate, metrics: docs/testing.md)
MUTATION_SAMPLE ?=
MUTATION_SEED ?= 0
.PHONY: mutation
mutation: setup
	$(PY) tests/mutation/run.py --jobs=$(MUTATION_JOBS) $(if $(MUTATION_SAMPLE),--sample=$(MUTATION_SAMPLE) --seed=$(MUTATION_SEED)) $(MUTATION_MODULES)

# The pull-request regression gate (docs/regression-gate.md): after `make repro`, compare the working tree with BASE
# (results cell by cell, every model's golden output and training trajectory, interleaved speed cases).
# Exit 0 pass, 1 regression, 2 could not compare; the report is .gate/report/gate.md (and gate.json).
BASE ?=
GATE_ARGS ?=
.PHONY: gate
gate: setup
	PATH="$(abspath $(VENV))/bin:$$PATH" $(VENV)/bin/amss-bench gate $(if $(BASE),--base $(BASE)) $(GATE_ARGS)
