# Two commands for a newcomer:  make run   (chat with the bot)
#                               make test  (every test)
SHELL := /bin/bash
VENV := .venv/.requirements.sha
RASA := .venv/bin/rasa
PY := .venv/bin/python
MODEL := models/hotel.tar.gz
# every NLU component of components/ (stores.py is runtime only: changing it needs no new model)
TRAINING_INPUTS := config.yml domain.yml $(wildcard data/*.yml data/nlu/*.yml) $(filter-out components/stores.py components/__init__.py,$(wildcard components/*.py))
export SQLALCHEMY_SILENCE_UBER_WARNING := 1
export TF_CPP_MIN_LOG_LEVEL := 2
# endpoints.yml reads it; the embedded default is the local action server
ACTION_ENDPOINT_URL ?= http://localhost:5055/webhook
export ACTION_ENDPOINT_URL

.PHONY: run test system-tools install lint train validate unit test-stories integration nlu-report conversation-report determinism clean

run: install $(MODEL)  ## install what is missing, train if needed, chat with the bot
	@scripts/chat.sh

test: system-tools install lint validate unit $(MODEL) test-stories integration  ## every test
	@echo "all tests passed"

system-tools:  ## promtool, chromium + chromedriver, redis-server, docker-compose from Debian packages when missing
	@scripts/ensure_system_tools.sh

install: $(VENV)
$(VENV): requirements.lock scripts/bootstrap.sh
	@scripts/bootstrap.sh

$(MODEL): $(TRAINING_INPUTS) | $(VENV)
	@echo "==> training the model (a few minutes on 2 cores)"
	$(RASA) train --fixed-model-name hotel --out models --quiet

train: $(MODEL)

lint: install  ## ruff (configured in ruff.toml)
	.venv/bin/ruff check .

validate: install  ## rasa data validate, with the project's own strictness
	$(PY) scripts/validate_data.py

unit: install  ## pytest without the trained model: actions, PMS backends, parsers, connectors
	REQUIRE_ALL_TESTS=1 $(PY) -m pytest -q -m "not model"

test-stories: $(MODEL)  ## end-to-end test stories, both languages; any wrong prediction fails
	$(RASA) test core --model $(MODEL) --stories tests/stories --fail-on-prediction-errors --out results/stories

integration: $(MODEL)  ## trained model + real action server (+ WhatsApp channel and fake Graph API)
	REQUIRE_ALL_TESTS=1 $(PY) -m pytest -q -m model

nlu-report: install  ## held-out NLU evaluation (20% of the examples), report in results/nlu
	$(PY) scripts/nlu_report.py

conversation-report: $(MODEL)  ## held-out whole conversations (tests/heldout) against the model + action server; results/conversations
	$(PY) scripts/conversation_report.py

determinism: install  ## train twice from the same inputs and compare the two models file by file
	$(PY) scripts/training_determinism.py

clean:
	rm -rf results models/*.tar.gz .pytest_cache
