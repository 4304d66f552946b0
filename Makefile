# Two commands on a fresh machine: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
TORCH_SPEC ?= torch==2.13.0
PY := $(VENV)/bin/python
STAMP := $(VENV)/.impasto-installed
# The demo runs the library's default path: 512 px, started from the arbitrary-style network's painting,
# L-BFGS until the convergence stop (at most 500 iterations). DEMO_ARGS adds options (e.g. --iters 100).
DEMO_ARGS ?=

.PHONY: setup demo test redis lint e2e weights gallery clean-venv fuzz fuzz-loader fuzz-api schemathesis-smoke soak

setup: $(STAMP)

$(PY):
	$(PYTHON) -m venv $(VENV)

# torch first, and only when no suitable torch is importable (TORCH_SPEC overrides the default CPU wheel).
$(STAMP): pyproject.toml $(PY)
	@$(PY) -c "import torch, sys; v = tuple(int(p) for p in torch.__version__.split('+')[0].split('.')[:2]); sys.exit(0 if (2, 2) <= v < (2, 15) else 1)" 2>/dev/null \
		|| $(PY) -m pip install --disable-pip-version-check "$(TORCH_SPEC)"
	$(PY) -m pip install --disable-pip-version-check -q -e ".[dev,serve,scale,video,onnx,keras]"
	@touch $(STAMP)

weights: $(STAMP)
	$(VENV)/bin/impasto weights fetch

demo: weights
	@mkdir -p out
	$(VENV)/bin/impasto stylize examples/tubingen.jpg examples/starry_night.jpg -o out/demo.png $(DEMO_ARGS)
	@echo "demo image written to $(CURDIR)/out/demo.png"

test: weights redis
	$(PY) -m pytest -q

# The Redis + Celery backend's tests start Debian's redis-server themselves (installed with apt when
# missing, as e2e does for chromium; a no-op once it is there).
REDIS_SERVER ?= /usr/bin/redis-server
redis:
	@test -x $(REDIS_SERVER) || { apt-get update -qq && apt-get install -y -qq redis-server; } \
		|| { echo "make redis: install Debian's redis-server (apt-get install redis-server)" >&2; exit 1; }

# The habits engineers use on themselves: ruff (lint + format) and mypy, configured in pyproject.toml.
lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(VENV)/bin/mypy

# The browser test of the web UI: Debian's chromium (installed with apt when missing; no browser
# download) driven by Playwright. Screenshots and the downloaded result land in out/e2e/.
CHROMIUM ?= /usr/bin/chromium
e2e: weights
	@test -x $(CHROMIUM) || { apt-get update -qq && apt-get install -y -qq chromium; } \
		|| { echo "make e2e: install Debian's chromium (apt-get install chromium) or set CHROMIUM=" >&2; exit 1; }
	$(PY) -m pip install --disable-pip-version-check -q -e ".[dev,serve,e2e]"
	E2E=1 CHROMIUM=$(CHROMIUM) $(PY) -m pytest -q tests/e2e

clean-venv:
	rm -rf $(VENV)

# Reliability runs (issue 13), each against a real `impasto serve` on a free loopback port, bounded, not
# part of `make test`. fuzz-api: schemathesis with every check at scale (about 10 minutes);
# schemathesis-smoke: a few examples per operation (about a minute, run by .ci/run; fails on a 5xx or
# a response the spec does not allow); soak: mixed jobs under worker SIGKILLs and a filling disk (a
# tmpfs: needs root), every accepted job must end `succeeded` exactly once.
fuzz-api: weights
	$(PY) benchmarks/fuzz_api.py --max-examples 2000 --max-time 540 --report-dir out/schemathesis

schemathesis-smoke: weights
	$(PY) benchmarks/fuzz_api.py --max-examples 5 --max-time 60 --report-dir out/schemathesis-smoke

soak: weights
	$(PY) benchmarks/soak.py

# README pictures: each script writes into docs/ (run by hand; not part of `make test`).
gallery: demo
	$(PY) scripts/demo_figure.py --result out/demo.png
	$(PY) scripts/gallery.py
	$(PY) scripts/dream_gallery.py
	$(PY) scripts/fast_gallery.py
	$(PY) scripts/arbitrary_gallery.py
	$(PY) scripts/figures_gallery.py
	$(PY) scripts/portraits_gallery.py

# The image-loader part of `make fuzz` (not in `make test`): 100,000 mutated inputs of every accepted
# format and of refused ones (EPS, PDF, AVIF), at most 15 minutes; counts per outcome, exit 1 on any
# exception other than ImageError or any program started. The same fuzz, smaller, is in tests/test_images.py.
FUZZ_LOADER_COUNT ?= 100000
fuzz-loader: $(STAMP)
	nice $(PY) benchmarks/fuzz_loader.py --count $(FUZZ_LOADER_COUNT) --seconds 900

# `make fuzz` (run by hand, bounded): the image-loader fuzz at scale, then schemathesis at scale.
fuzz: fuzz-loader fuzz-api
