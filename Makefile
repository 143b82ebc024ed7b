# The two commands a new user needs: `make run` and `make test`. Both create .venv and install
# what requirements.txt pins (torch/torchvision install from this machine's disk).
VENV ?= .venv
PYTHON ?= python3
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed

.PHONY: run test install bench clean

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

test: install
	$(PY) -m pytest

bench: install
	$(PY) benchmarks/embed_throughput.py

clean:
	rm -rf $(VENV) .pytest_cache
