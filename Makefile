# Two entry points do all set-up themselves: `make run` (the main job) and `make test` (the suite).
# Both create or refresh the local venv in $(VENV). GPU users: see README ("torch: CPU or GPU").
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   ?= .venv
TORCH  ?= torch==2.13.0
# Extra pip arguments for torch, e.g. a CUDA wheel index (see README, "torch: CPU or GPU").
TORCH_PIP_ARGS ?=
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: venv run test check lint bench clean

venv: $(STAMP)

$(STAMP): pyproject.toml Makefile
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --disable-pip-version-check "$(TORCH)" $(TORCH_PIP_ARGS)
	$(PY) -m pip install -q --disable-pip-version-check -e '.[test]'
	touch $(STAMP)

# The main job: self-play PPO on the embedded default config (about 10 minutes of training on a
# 2-core CPU), then an evaluation against the three fixed
# players (greedy, mix:greedy,minimax,0.5 and minimax) and a ladder Elo. Extra overrides: ARGS="k=v".
run: venv
	$(VENV)/bin/keisei-fn train run_dir=runs/$$(date +%Y%m%d-%H%M%S) $(ARGS)

# Lint (ruff) and the layer contracts (import-linter, pyproject.toml), the suite (its files on two
# pytest-xdist workers: 13 min instead of 22 on a 2-core machine), then the
# benchmarks' ratio gates in short mode (bench/baselines.json: engine vs the cshogi loop,
# collector overhead, compiled vs eager update, folded population vs loop).
test: lint
	$(PY) -m pytest -q -n 2 --dist loadfile --durations=15 tests
	$(PY) -m pytest -q bench -m gate --benchmark-only --benchmark-columns=median,rounds

# The fast lane for local work: lint, then the suite without the slow lane (every subprocess,
# worker, torchrun, Ray, browser and kill test: tests/conftest.py), on two workers (CI runs all).
check: lint
	$(PY) -m pytest -q -n 2 -m "not slow" tests

lint: venv
	$(VENV)/bin/ruff check keisei_fn tests bench experiments
	$(VENV)/bin/lint-imports

# Long mode (all batch sizes, compiled variants, memory, threads); JSON with the machine's info
# under bench/results/. `make bench BENCH_LONG=` runs the short (CI) mode instead.
BENCH_LONG ?= 1
bench: venv
	KEISEI_BENCH_LONG=$(BENCH_LONG) $(PY) -m pytest bench --benchmark-only --benchmark-autosave \
		--benchmark-storage=bench/results

clean:
	rm -rf $(VENV)
