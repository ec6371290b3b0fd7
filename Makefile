# Two commands matter: `make run` (set up, fetch data, build the default model, serve the app
# while the other K values and three seeds of each build in the background)
# and `make test` (set up, fetch data, lint the code and its import layers, run every test).
# Both are idempotent.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
DATA := data/ml-100k/ml-100k.inter
TASTES := data/tastes/dataset.json
PORT ?= 8501
ADDRESS ?= 127.0.0.1

.PHONY: run serve-public test setup data models first-model lint bench clean

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

# The positive control: a taste mixture whose users' tastes are known (docs/design.md, "Datasets").
$(TASTES): | $(STAMP)
	$(VENV)/bin/mind-core data synth --preset tastes --out data/tastes --quiet

# The default K=4 model with its index and map (the Explore page's).
models: $(DATA)
	$(VENV)/bin/mind-core build-defaults --dataset ml-100k --interest-num 4

# Before `make run` serves: the same model with its index only (what search needs); its UMAP
# map (~30 s) is the first thing built in the background, and the Explore page shows it when
# it lands. It is the first of the starting points the dataset's start is chosen from on
# validation (docs/design.md, "Choosing on validation"), so nothing is trained twice.
first-model: $(DATA)
	$(VENV)/bin/mind-core build-defaults --dataset ml-100k --interest-num 4 --no-map \
		--no-start-choice

# Once the app answers, in the background at the lowest priority (the first viewers' pages
# come first), one after another: the first model's map, the dataset's start chosen on
# validation, the other K values, seeds 1 and 2 of each (three seeds a side make a sound
# verdict), then the taste mixture (written, then its start chosen, seed 0 with index and
# map, then two more seeds). The app shows each when it lands.
run: first-model
	( $(PY) -m app.server wait http://$(ADDRESS):$(PORT) 600 || exit 0; \
	  nice -n 19 $(VENV)/bin/mind-core build-defaults --background --dataset ml-100k --interest-num 4 \
		--no-start-choice; \
	  nice -n 19 $(VENV)/bin/mind-core build-defaults --background --dataset ml-100k; \
	  nice -n 19 $(VENV)/bin/mind-core build-defaults --background --dataset ml-100k --seeds 1 2 --no-serving; \
	  $(MAKE) --no-print-directory $(TASTES); \
	  nice -n 19 $(VENV)/bin/mind-core build-defaults --background --dataset tastes; \
	  nice -n 19 $(VENV)/bin/mind-core build-defaults --background --dataset tastes --seeds 1 2 \
		--no-serving ) > data/artifacts/background.log 2>&1 &
	$(VENV)/bin/streamlit run app/main.py --server.address $(ADDRESS) --server.port $(PORT) \
		--server.headless true --browser.gatherUsageStats false

# Share the app with a room: every address, and training from the browser only with TOKEN
# (`make serve-public TOKEN=...`; without TOKEN the browser cannot train at all).
serve-public: models
	MIND_PUBLIC=1 MIND_TRAIN_TOKEN="$(TOKEN)" $(VENV)/bin/streamlit run app/main.py \
		--server.address 0.0.0.0 --server.port $(PORT) --server.headless true \
		--browser.gatherUsageStats false

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
