# The handful of commands a newcomer needs. `make lab` and `make test` are the README's two.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
HOST   ?= 127.0.0.1
PORT   ?= 8888
STAMP  := $(VENV)/.installed

.PHONY: setup lab test lessons site bench results gpu-check gpu-test gpu-run gpu-project project clean

# Create the venv if missing; install the torch build that fits the machine (the CPU build
# without an NVIDIA driver; TORCH_BUILD=cpu or cuda overrides: setup/torch_build.py), then the
# course package with its test tools; set up Jupyter inside the venv (this clone's own kernel,
# no news pop-up: setup/jupyter_setup.py). Reruns only when one of its inputs changes.
TORCH_BUILD ?= auto
$(STAMP): pyproject.toml setup/torch_build.py setup/jupyter_setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	TORCH_BUILD='$(TORCH_BUILD)' $(BIN)/python setup/torch_build.py
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python setup/jupyter_setup.py
	touch $(STAMP)

setup: $(STAMP)

# Start JupyterLab on the lessons, bound to $(HOST) with a fresh token; the URL to open is printed.
# The same start-up checks as setup/jupyter.sh (setup/lab_checks.sh): loopback only unless a
# Jupyter password is set, and a server that answers without its token is stopped.
lab: setup
	COURSE_PYTHON='$(abspath $(BIN))/python' HOST='$(HOST)' PORT='$(PORT)' bash setup/jupyter.sh foreground

# Every test in quick mode: unit tests, notebook hygiene, a real JupyterLab, and nbval over every lesson.
# -rs lists every skipped test with its reason (a missing tool says how to install it).
test: setup
	COURSE_MODE=quick $(BIN)/python -m pytest -q -rs --nbval --nbval-current-env --nbval-cell-timeout=900 tests nbs

# Run every lesson headless in the current mode and collect its numbers in runs/results.json.
lessons: setup
	$(BIN)/python -m coursehelpers lessons run --out runs

# The rendered course: every lesson run in quick mode, one HTML page each, an index with the results.
site: setup
	$(BIN)/python -m coursehelpers site --out site

# Every lesson on the quick-mode data, on the GPU, without Jupyter (see setup/README.md).
gpu-check:
	COURSE_MODE=quick $(PYTHON) -m coursehelpers lessons run --in-process --timeout 420 --out runs/gpu-check

# The unit tests on the GPU machine's own Python (no Jupyter there: the tests that need it
# skip and say why). PYTEST_ARGS adds options, e.g. --junitxml=runs/gpu/tests.xml.
PYTEST_ARGS ?=
gpu-test:
	COURSE_MODE=quick $(PYTHON) -m pytest -q -rs tests $(PYTEST_ARGS)

# Everything a GPU machine should measure, in one run of under 8 minutes (see benchmarks/gpu_run.sh).
gpu-run:
	PYTHON=$(PYTHON) bash benchmarks/gpu_run.sh

# Full mode rehearsed on the GPU, with no data and no internet: stand-ins of the full data sets
# made there (scale 1: the real counts), random CNN weights (timing is the same), every lesson
# in full mode with each loop capped at 5 batches and timed, projected to the full schedule.
# LESSONS='05 08' projects only those (a dry run on a CPU).
GPU_PROJECT_SCALE ?= 1
LESSONS ?=
gpu-project:
	COURSE_PRETRAINED=0 $(PYTHON) -m coursehelpers data standin all --scale $(GPU_PROJECT_SCALE)
	COURSE_PRETRAINED=0 $(PYTHON) -m coursehelpers lessons project $(LESSONS) \
		--scale $(GPU_PROJECT_SCALE) --max-batches 5 --in-process --timeout 420 --out runs/gpu-project

# The same projection on this machine (a laptop: one epoch per fit is timed, the others projected).
project: setup
	COURSE_PRETRAINED=0 $(BIN)/python -m coursehelpers lessons project --scale 0.02 \
		--max-batches 3 --max-epochs 1 --out runs/projection

# Side-by-side speed measurements, every benchmarks/bench_*.py (results in benchmarks/results/).
# The bench extra adds fastai, the baseline of bench_fastai.py.
bench: setup
	$(BIN)/python -m pip install --quiet -e '.[dev,bench]'
	for b in benchmarks/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done

# Run every lesson and every benchmark, then rewrite the README's results section from their files.
results: lessons bench
	$(BIN)/python benchmarks/update_readme.py

clean:
	rm -rf runs .pytest_cache
