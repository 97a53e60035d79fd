# One command to set up and run, one to set up and test. Each creates .venv and installs what it needs.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: setup run test index clean

setup: $(STAMP)

# torch==2.13.0 first: a CPU build; a plain `torch` requirement would pull a multi-GB CUDA build.
$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet torch==2.13.0
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $(STAMP)

run: setup
	$(BIN)/jmqa ask "What are Jiangmen's core industries?"

index: setup
	$(BIN)/jmqa index

test: setup
	$(BIN)/python -m pytest -q

clean:
	rm -rf $(VENV) index/snapshot-* index/CURRENT
