# dsr — the two commands a newcomer needs: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test venv lint bench clean

$(STAMP): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev,s3]'
	rm -f $(VENV)/.installed-*
	touch $(STAMP)

venv: $(STAMP)

# Embedded default: SQLite, ORM task broker, local encrypted storage under ./var. DEBUG is on only because
# development is asked for here (an unset DSR_ENV never turns it on).
run: export DSR_ENV ?= development
run: $(STAMP)
	$(PY) manage.py migrate --no-input
	$(PY) manage.py seed_demo
	$(PY) manage.py setup_schedules
	$(PY) manage.py collectstatic --no-input -v 0
	@echo ""
	@echo "  dsr is starting"
	@echo "  operator console : http://$(HOST):$(PORT)/staff/"
	@echo "  platform API     : http://$(HOST):$(PORT)/api/v1/openapi.json"
	@echo "  admin (register) : http://$(HOST):$(PORT)/admin/"
	@echo "  demo operator    : $$($(PY) manage.py seed_demo --print-login)"
	@echo "  worker           : django-q2 qcluster (started alongside; Ctrl-C stops both)"
	@echo ""
# Both run in the background of one shell that waits for either: Ctrl-C, a SIGTERM to make or to its
# process group (a supervisor, `timeout`, `docker stop`), or either process dying stops both. `set -m`
# gives each its own process group, so a group-wide signal reaches only the shell, which stops qcluster
# through its main process (signalled all at once, django-q's processes can hang half-stopped); after a
# 20 s grace period whatever is left of the cluster is killed (its jobs are idempotent and redelivered).
	@bash -c 'set -m; \
	  stop() { kill -TERM $$QPID $$WPID 2>/dev/null; \
	    for _ in $$(seq 100); do kill -0 $$QPID 2>/dev/null || break; sleep 0.2; done; \
	    kill -KILL -$$QPID $$WPID 2>/dev/null; wait; }; \
	  trap stop EXIT INT TERM; \
	  $(PY) manage.py qcluster & QPID=$$!; \
	  $(PY) manage.py runserver --noreload $(HOST):$(PORT) & WPID=$$!; \
	  wait -n'

# Whole suite; on PostgreSQL when DATABASE_URL points to one (CI does). Two workers (pytest-xdist), each with its
# own test database; `make test PYTEST_ARGS=` runs it in one process, PYTEST_ARGS="-n 0 tests/test_x.py" one file.
PYTEST_ARGS ?= -n 2 --durations=15
test: $(STAMP)
	DSR_TESTING=1 $(PY) -m pytest $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff check dsr tests bench

bench: $(STAMP)
	$(PY) bench/ingest.py

clean:
	rm -rf $(VENV) var staticfiles
