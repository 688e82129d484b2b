# Two commands: `make lab` and `make test`. Everything lives in .venv; nothing is registered globally.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
LOCK   := requirements/lock.txt
# The stamp covers both what we ask for (pyproject.toml) and what we get (the lock): change either, re-install.
HASH   := $(shell $(PYTHON) -c "import hashlib;print(hashlib.sha256(open('pyproject.toml','rb').read()+open('$(LOCK)','rb').read()).hexdigest()[:16])")
STAMP  := $(VENV)/.installed-$(HASH)
# Keep Jupyter's config, data and runtime inside the venv so that `make` touches nothing global.
export JUPYTER_PREFER_ENV_PATH := 1
export JUPYTER_PLATFORM_DIRS   := 1

.PHONY: lab formgrader test venv lint clean doctor pretrain bench lock

venv: $(STAMP)

# Exactly the locked versions (-c): the tested environment, never a fresh resolve from the index.
$(STAMP): pyproject.toml $(LOCK)
	@rm -f $(VENV)/.installed-*
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet -c $(LOCK) --upgrade pip
	$(BIN)/python -m pip install --quiet -c $(LOCK) -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name python3 --display-name "Python 3 (freezelab)" >/dev/null
	@touch $@

# The Lab's root is the checkout; it opens on the start page, shows no nbgrader instructor panels, and its
# terminals have .venv/bin on PATH (freezelab lab does all three).
lab: $(STAMP)
	$(BIN)/freezelab lab . $(LAB_ARGS)

# Instructor: nbgrader's formgrader on autograder/ (manual grading of the free-response answers).
formgrader: $(STAMP)
	$(BIN)/freezelab formgrader --course autograder $(LAB_ARGS)

# One worker per core; --dist loadfile keeps each test file (and its expensive module fixtures) on one worker.
PYTEST_WORKERS ?= auto
test: $(STAMP)
	$(BIN)/python -m pytest -n $(PYTEST_WORKERS) --dist loadfile --durations=12 $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check src tests autograder benchmarks notebooks/*.py

doctor: $(STAMP)
	$(BIN)/freezelab doctor

pretrain: $(STAMP)
	$(BIN)/python -m freezelab.pretrain

bench: $(STAMP)
	$(BIN)/python -m benchmarks.run_all

# Move the lock forward: resolve pyproject.toml afresh in a throwaway venv (under this machine's pip
# configuration) and write every installed version to requirements/lock.txt. Then run `make test`;
# re-record goldens (python -m tools.record_notebook_outputs) only where a lesson's output really changed.
lock:
	rm -rf .lock-venv
	$(PYTHON) -m venv .lock-venv
	.lock-venv/bin/python -m pip install --quiet --upgrade pip
	.lock-venv/bin/python -m pip install --quiet '.[dev]'
	.lock-venv/bin/python tools/write_lock.py $(LOCK)
	rm -rf .lock-venv

clean:
	rm -rf $(VENV) build dist *.egg-info src/*.egg-info
