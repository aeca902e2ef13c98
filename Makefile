# hgtools — two commands on a fresh machine:
#   make book   install (.venv, Python 3.11), build the catalogue, execute the notebooks, render _build/html
#   make test   install, then run the test suite (CI=true also builds the quick book)
# Options: SEED=0  BOX=<mock box side in Mpc/h> (default: hgtools.config, TNG300's box)

PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
SEED   ?= 0
BOX    ?=
RUN     = --seed $(SEED) $(if $(BOX),--box-size $(BOX))

.PHONY: book quick-book test install browser catalogue bench clean

install: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@test -n "$(PYTHON)" || { echo "error: Python 3.11 is required (python3.11 not found)"; exit 1; }
	@$(PYTHON) -c 'import sys; v = sys.version_info[:2]; assert v == (3, 11), f"error: Python 3.11 is required, {sys.executable} is {v[0]}.{v[1]}"'
	@command -v $${CC:-gcc} >/dev/null 2>&1 || command -v cc >/dev/null 2>&1 || { echo "error: a C compiler is required to build Pylians (Debian: apt-get install gcc)"; exit 1; }
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV) || { echo "error: python3.11 -m venv failed (Debian: apt-get install python3.11-venv)"; exit 1; }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[book,dev]"
	@touch $@

book: install
	$(BIN)/hgtools book $(RUN)

quick-book: install
	$(BIN)/hgtools book --quick --seed $(SEED)

catalogue: install
	$(BIN)/hgtools catalogue --source mock $(RUN)

# Debian's chromium renders the book in the browser test; installed when we may, else the test is skipped.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing Debian's chromium for the browser test ..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "note: chromium not found and not root; the headless-browser test will be skipped"; fi; }

test: install browser
	$(BIN)/python -m pytest

bench: install
	$(BIN)/python bench/generate.py
	$(BIN)/python bench/tng.py
	$(BIN)/python bench/ks2d.py
	$(BIN)/python bench/training.py
	$(BIN)/python bench/smogn.py
	$(BIN)/python bench/power_spectrum.py
	$(BIN)/python bench/populate.py
	$(BIN)/python bench/density.py
	$(BIN)/python bench/density_seeds.py
	$(BIN)/python bench/density_truths.py
	$(BIN)/python bench/seeds.py
	$(BIN)/python bench/book.py

clean:
	rm -rf _build data
