# springstudy: two commands do everything on a fresh machine.
#   make repro   set up .venv, then rebuild the whole study with DVC
#   make test    set up .venv, then run the tests and the notebooks (nbmake)
#   make lab     open JupyterLab with the springstudy kernel
PYTHON ?= python3
VENV   := .venv
BIN    := $(CURDIR)/$(VENV)/bin
STAMP  := $(VENV)/.springstudy-setup
# pytest-xdist is not used: the suite is sized for 2 cores in one process.
PYTEST_ARGS ?=

export PATH := $(BIN):$(PATH)
export MPLBACKEND := Agg

.PHONY: setup repro test lab clean-venv

setup: $(STAMP)

# Re-run the install only when the dependency list changes (pyproject.toml).
$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	$(BIN)/python -m ipykernel install --sys-prefix --name springstudy --display-name "springstudy (Python 3)"
	touch $@

repro: setup
	$(BIN)/dvc repro

test: setup
	$(BIN)/python -m pytest tests notebooks --nbmake $(PYTEST_ARGS)

lab: setup
	$(BIN)/jupyter lab $(if $(filter 0,$(shell id -u)),--allow-root)

clean-venv:
	rm -rf $(VENV)
