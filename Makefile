# Two commands set up everything: `make run` and `make test` (see README.md).
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
export FLASK_APP := wsgi
# `make run` is for a laptop: development mode (plain-HTTP cookies, a generated SECRET_KEY kept
# in instance/, mail to the local Maildir sink unless MAIL_SERVER is set).
RUN_ENV := NEWSLETTER_ENV=$${NEWSLETTER_ENV:-development} \
  NEWSLETTER_BASE_URL=$${NEWSLETTER_BASE_URL:-http://$(HOST):$(PORT)}

.PHONY: run shell test lint bench bench-scale install install-dev migrate clean translations

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed: requirements.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements.txt
	touch $@

$(VENV)/.installed-dev: requirements.txt requirements-dev.txt | $(BIN)/python
	$(BIN)/pip install --quiet -r requirements-dev.txt
	touch $@ $(VENV)/.installed

install: $(VENV)/.installed
install-dev: $(VENV)/.installed-dev

migrate: install
	$(RUN_ENV) $(BIN)/flask db upgrade

run: migrate
	@if [ -n "$$NEWSLETTER_ADMIN_PASSWORD" ]; then \
	  printf '%s\n' "$$NEWSLETTER_ADMIN_PASSWORD" | $(RUN_ENV) $(BIN)/flask newsletter create-admin \
	    "$${NEWSLETTER_ADMIN_EMAIL:-admin@example.org}" --password-stdin --if-missing >/dev/null; \
	else \
	  out=$$($(RUN_ENV) $(BIN)/flask newsletter create-admin "$${NEWSLETTER_ADMIN_EMAIL:-admin@example.org}" --if-missing) || exit 1; \
	  printf '%s\n' "$$out" | sed '$$d'; \
	fi
	@# A first public list, so the subscribe form at /subscribe/news works on a fresh install.
	@$(RUN_ENV) $(BIN)/flask newsletter lists create news --name "News" --public --if-no-lists \
	  --description "Our newsletter" --sender-name "Newsletter" --sender-address "news@example.org" >/dev/null
	$(RUN_ENV) $(BIN)/flask newsletter serve --host $(HOST) --port $(PORT)

# A shell with the settings of `make run` (development mode, the same instance/ and SECRET_KEY),
# so `flask newsletter ...` works in a second terminal while `make run` serves.
shell: install
	@echo "flask commands here use the development settings of make run; 'exit' to leave."
	@$(RUN_ENV) PATH="$(CURDIR)/$(BIN):$$PATH" VIRTUAL_ENV="$(CURDIR)/$(VENV)" $${SHELL:-/bin/sh}

test: install-dev
	$(BIN)/python -m pytest $(PYTEST_ARGS)

# After changing a text in {{ _('...') }} or gettext(): extract, merge into every catalogue,
# translate the new (empty or fuzzy) entries, then run this again to compile the .mo files.
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _ -k gettext --no-location --sort-output \
	  --project newsletter -o newsletter/translations/messages.pot .
	$(BIN)/pybabel update -i newsletter/translations/messages.pot -d newsletter/translations \
	  --ignore-obsolete --width 100
	$(BIN)/pybabel compile -d newsletter/translations --statistics

lint: install-dev
	$(BIN)/ruff check .

bench: install-dev
	$(BIN)/python bench/classify.py
	$(BIN)/python bench/delivery.py
	$(BIN)/python bench/dispatch.py
	$(BIN)/python bench/http_load.py

# Long (about half an hour at a million subscribers): SUBSCRIBERS=100000 for a quick look.
bench-scale: install-dev
	$(BIN)/python bench/scale.py --subscribers $${SUBSCRIBERS:-1000000}

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache
