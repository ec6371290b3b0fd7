# Two commands matter: `make run` (set up, fetch data, build the default models, serve the app
# while a second seed of each builds in the background)
# and `make test` (set up, fetch data, lint the code and its import layers, run every test).
# Both are idempotent.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DATA := data/ml-100k/ml-100k.inter
PORT ?= 8501
ADDRESS ?= 127.0.0.1

.PHONY: run test setup data models lint bench clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip

$(STAMP): requirements.txt pyproject.toml | $(PY)
	$(PY) -m pip install -q -r requirements.txt
	$(PY) -m pip install -q --no-deps -e .
	touch $@

$(TEST_STAMP): requirements-test.txt $(STAMP)
	$(PY) -m pip install -q -r requirements-test.txt
	touch $@

setup: $(STAMP)

$(DATA): | $(STAMP)
	$(VENV)/bin/mind-core data fetch ml-100k

data: $(DATA)

models: $(DATA)
	$(VENV)/bin/mind-core build-defaults --dataset ml-100k

# The second seed of each default model (the Compare page's noise floor) is built after the
# app is up, in the background at low priority; the app shows it when it is ready.
run: models
	nice -n 10 $(VENV)/bin/mind-core build-defaults --dataset ml-100k --seeds 1 --no-serving \
		> data/artifacts/seeds.log 2>&1 &
	$(VENV)/bin/streamlit run app/main.py --server.address $(ADDRESS) --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

test: $(TEST_STAMP) $(DATA)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports
	$(PY) -m pytest

lint: $(TEST_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/lint-imports

bench: $(STAMP) $(DATA)
	$(PY) -m bench.run_all

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
