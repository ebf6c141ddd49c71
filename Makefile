# Two commands set everything up on a fresh clone (each creates .venv when missing; safe to rerun):
#   make run    the main job: get the data, train the fast transfer model, evaluate, show top-3
#   make test   the test suite
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint setup system-deps clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q torch==2.14.1 torchvision==0.29.1
	$(BIN)/python -m pip install -q -e '.[train,verify,dev,ray]'
	touch $(STAMP)

setup: $(STAMP)

system-deps:
	./scripts/system-deps.sh

run: setup
	$(BIN)/landmarks quickstart $(if $(DATA),--data $(DATA))

test: setup system-deps
	$(BIN)/python -m pytest -q -p no:cacheprovider

lint: setup
	$(BIN)/ruff check src tests benchmarks scripts
	$(BIN)/ruff format --check src tests benchmarks scripts

clean:
	rm -rf $(VENV) build dist src/*.egg-info
