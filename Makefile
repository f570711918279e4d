# The two set-up commands of the README's Quick start, and what CI runs.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
FASHION_MNIST = /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: install install-test demo test test-data test-slow api-docs docs-check docs-check-slow

# torch is pinned to the CPU build first: a bare torch requirement pulls a CUDA build.
# `install` is what the demo needs: retain alone, none of the extras.
install:
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e .

# The tests also need the `test` extra (pytest, hypothesis, Ray, Hugging Face datasets, build, wandb, MLflow).
install-test: install
	$(PIP) install -q -c constraints.txt -e ".[test]"

demo: install
	retain run

# Real-data tests read Fashion-MNIST from the Debian package dataset-fashion-mnist.
test-data:
	@if [ ! -f $(FASHION_MNIST) ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi

test: install-test test-data
	$(PYTHON) -m pytest -q

test-slow: install-test test-data
	$(PYTHON) -m pytest -m slow

# docs/api.md from the docstrings (tests/test_api.py fails while it is out of date).
api-docs:
	$(PYTHON) docs/make_api.py

# Every number the docs quote, re-made by the command written next to it (docs/check_numbers.py;
# about 25 minutes on 2 cores under load). Timings are not checked.
docs-check:
	$(PYTHON) docs/check_numbers.py

# The same and the slow commands too (`<!-- numbers slow: ... -->`: CIFAR-scale runs, sweeps,
# the distributed benchmark): hours on 2 cores. One page: python docs/check_numbers.py --slow PAGE.
docs-check-slow:
	$(PYTHON) docs/check_numbers.py --slow
