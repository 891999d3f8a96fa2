# Two commands for a fresh machine (Python 3.11 with venv):
#   make demo   install acecost and analyse the bundled PokeBNN-1.0x
#   make test   install acecost with its test extras and run the test suite
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin

.PHONY: demo test test-duration install install-test clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --quiet --upgrade pip

# stamp files: an install is redone only when pyproject.toml changes (or after make clean)
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	@echo "Installing acecost into $(VENV) (once; again only when pyproject.toml changes) ..."
	@$(BIN)/pip install --quiet --quiet -e .
	@touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	@echo "Installing acecost and its test extras into $(VENV) ..."
	@$(BIN)/pip install --quiet --quiet -e ".[test,aqt,qwix,equinox,corpus,dask,keras,qonnx]"
	@touch $@ $(VENV)/.installed

install: $(VENV)/.installed

install-test: $(VENV)/.installed-test

# prints exactly the sample at the top of README.md
demo: $(VENV)/.installed
	@$(BIN)/acecost analyze zoo:pokebnn-1.0x

# what to expect, said before the install (prerequisites run in order): the full suite took
# about 14 minutes of pytest on 2 cores (about 2,700 tests; a clean clone: 14:09, 17:36 with the install)
test-duration:
	@echo "make test: about 13-15 minutes of tests on 2 cores, longer on a busy machine (a first install adds a few);"
	@echo "a progress line every minute."

test: test-duration $(VENV)/.installed-test
	$(BIN)/python -m pytest -q -n 2 --progress-every 60

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache .hypothesis
