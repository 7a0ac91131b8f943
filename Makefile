# The two commands of the README: `make app` and `make test`. Each installs what it needs into .venv first.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
APP_STAMP := $(VENV)/.app-installed
DEV_STAMP := $(VENV)/.dev-installed

.PHONY: app test bench

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

$(APP_STAMP): requirements.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements.txt
	touch $@

$(DEV_STAMP): requirements.txt requirements-dev.txt | $(PY)
	$(PY) -m pip install --quiet -r requirements-dev.txt
	touch $@ $(APP_STAMP)

app: $(APP_STAMP)
	$(PY) -m streamlit run app.py --server.port 8501

test: $(DEV_STAMP)
	$(PY) -m pytest

bench: $(APP_STAMP)
	$(PY) bench/bench_trainer.py
