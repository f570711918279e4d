# The two set-up commands of the README's Quick start, and what CI runs.
PYTHON ?= python3
PIP = $(PYTHON) -m pip
FASHION_MNIST = /usr/share/datasets/fashion-mnist/train-images-idx3-ubyte.gz

.PHONY: install demo test test-data test-slow bench

# torch is pinned to the CPU build first: a bare torch requirement pulls a CUDA build.
install:
	$(PIP) install -q -c constraints.txt torch==2.13.0
	$(PIP) install -q -c constraints.txt -e ".[test]"

demo: install
	retain run

# Real-data tests read Fashion-MNIST from the Debian package dataset-fashion-mnist.
test-data:
	@if [ ! -f $(FASHION_MNIST) ]; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq dataset-fashion-mnist; \
	fi

test: install test-data
	$(PYTHON) -m pytest -q

test-slow: install test-data
	$(PYTHON) -m pytest -m slow
