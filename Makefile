# Two commands a newcomer needs: `make demo` and `make test`. Both create .venv themselves.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test check lint bench clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[dev]"
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/gridpay demo

test: $(STAMP)
	$(BIN)/pytest -n 2 -q

lint: $(STAMP)
	$(BIN)/ruff format --check src tests
	$(BIN)/ruff check src tests
	$(BIN)/lint-imports
	$(BIN)/mypy

check: lint test

bench: $(STAMP)
	$(BIN)/gridpay bench settle --accounts 550000

clean:
	rm -rf $(VENV) gridpay.db gridpay.db-wal gridpay.db-shm .pytest_cache gridpay-sms.jsonl \
		gridpay-demo.db gridpay-demo.db-wal gridpay-demo.db-shm gridpay-demo-report.html \
		gridpay-demo-sms.jsonl
