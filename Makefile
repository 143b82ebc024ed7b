# The two commands a new user needs: `make run` and `make test`. Both create .venv and install
# what requirements.txt pins (torch/torchvision install from this machine's disk).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run serve test install bench clean

$(STAMP): requirements.txt pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -r requirements.txt
	$(PY) -m pip install --quiet --no-deps -e .
	touch $(STAMP)

install: $(STAMP)

# Builds the demo index on first start (minutes, with progress; reused afterwards), then starts
# the app. Streamlit reads its own settings (STREAMLIT_SERVER_PORT, ...) from the environment.
run: install
	$(VENV)/bin/embedspace demo
	$(VENV)/bin/streamlit run app.py

# The HTTP API on the demo index (built on first start, as for `make run`): http://127.0.0.1:8000/docs.
# Reads only, unless EMBEDSPACE_TOKEN is set: then writes need that token (docs/serve.md).
serve: install
	$(VENV)/bin/embedspace demo
	$(VENV)/bin/embedspace serve

# Lint, the layer rule (docs/architecture.md), the docs site (a warning or a broken link fails),
# then the whole test suite.
test: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports --no-cache
	NO_MKDOCS_2_WARNING=1 $(VENV)/bin/mkdocs build --strict
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/embed_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache site
