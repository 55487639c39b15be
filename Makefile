# The two commands a fresh machine needs: `make demo` and `make test`.
# Everything runs from .venv, created on first use from pyproject.toml.

# The newest Python 3.11+ on PATH, unless PYTHON=... says which.
PYTHON ?= $(firstword $(foreach candidate,python3.13 python3.12 python3.11 python3,\
	$(if $(shell command -v $(candidate) 2>/dev/null),\
	$(if $(filter 1,$(shell $(candidate) -c 'import sys; print(int(sys.version_info >= (3, 11)))' 2>/dev/null)),$(candidate)))))
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 8000
POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/backoffice

.DEFAULT_GOAL := help
.PHONY: which-python help demo test test-postgres test-faults lint typecheck format check serve scan bench clean

help:  ## List the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(BIN)/.installed: pyproject.toml
	@if [ ! -x $(BIN)/python ]; then \
	  if [ -z "$(PYTHON)" ]; then \
	    echo "No Python 3.11 or newer found (tried python3.13, python3.12, python3.11, python3)." >&2; \
	    echo "Install Python 3.11, 3.12 or 3.13, or name one: make $(MAKECMDGOALS) PYTHON=/path/to/python3.x" >&2; \
	    exit 1; \
	  fi; \
	  $(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else 1)' || { \
	    echo "$(PYTHON) is $$($(PYTHON) --version 2>&1): this needs Python 3.11 or newer." >&2; exit 1; }; \
	  echo "Creating $(VENV) with $$($(PYTHON) --version)"; \
	  $(PYTHON) -m venv $(VENV); \
	fi
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $@

which-python:  ## Say which Python a new .venv would be made with
	@echo "$(if $(PYTHON),$(PYTHON),none: no Python 3.11 or newer on PATH)"

demo: $(BIN)/.installed  ## Start the back office with demo data on http://127.0.0.1:$(PORT) (SQLite, no broker)
	DEBUG=true $(BIN)/python manage.py migrate --no-input
	DEBUG=true $(BIN)/python manage.py load_demo
	DEBUG=true $(BIN)/python manage.py runserver 127.0.0.1:$(PORT)

test: $(BIN)/.installed  ## Run the whole test suite (SQLite unless DATABASE_URL is set)
	SECRET_KEY=$${SECRET_KEY:-test-only-secret} \
	CELERY_TASK_ALWAYS_EAGER=$${CELERY_TASK_ALWAYS_EAGER:-true} $(BIN)/pytest

test-postgres: $(BIN)/.installed  ## The test suite on PostgreSQL ($(POSTGRES_URL))
	DATABASE_URL=$(POSTGRES_URL) REQUIRE_POSTGRES=1 $(MAKE) --no-print-directory test

test-faults: $(BIN)/.installed  ## The fault-injection trials (own Redis, prefork workers) on PostgreSQL; table in test-artifacts/faults.txt
	SECRET_KEY=$${SECRET_KEY:-test-only-secret} CELERY_TASK_ALWAYS_EAGER=true \
	DATABASE_URL=$(POSTGRES_URL) REQUIRE_POSTGRES=1 $(BIN)/pytest -p no:cacheprovider \
		tests/reminders/test_faults.py

lint: $(BIN)/.installed  ## ruff check, format check, and the import contract between the apps
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(BIN)/.installed  ## mypy with django-stubs and djangorestframework-stubs (pyproject.toml [tool.mypy])
	SECRET_KEY=$${SECRET_KEY:-typecheck-only-secret} $(BIN)/mypy

format: $(BIN)/.installed  ## Apply ruff's fixes and formatting
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

scan: $(BIN)/.installed  ## Run the nightly scan for today (AS_OF=YYYY-MM-DD, DRY_RUN=1)
	$(BIN)/python manage.py scan_overdue $(if $(AS_OF),--as-of $(AS_OF)) $(if $(DRY_RUN),--dry-run)

SCALE ?= full
BENCH_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432

bench: $(BIN)/.installed  ## Benchmark (SCALE=small: a few minutes); writes bench/last.json (REGENERATE=1: new data)
	SECRET_KEY=$${SECRET_KEY:-bench-only-secret} SECURE_SSL_REDIRECT=false nice -n 10 $(BIN)/python -m bench run \
		--scale $(SCALE) --server $(BENCH_POSTGRES_URL) $(if $(REGENERATE),--regenerate)

clean:  ## Remove the virtualenv, the demo database and caches
	rm -rf $(VENV) db.sqlite3 .pytest_cache .ruff_cache .hypothesis staticfiles
