# Two commands for a fresh machine (Python 3.11 with venv):
#   make demo   install acecost and analyse the bundled PokeBNN-1.0x
#   make test   install acecost with its test extras and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

install: $(BIN)/python
	$(BIN)/pip install --quiet -e .

install-test: $(BIN)/python
	$(BIN)/pip install --quiet -e ".[test,aqt,qwix,equinox,corpus,dask]"

demo: install
	$(BIN)/acecost analyze zoo:pokebnn-1.0x

test: install-test
	$(BIN)/python -m pytest -q -n 2

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
