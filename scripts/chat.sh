#!/usr/bin/env bash
# Start the action server, then chat with the bot in this terminal.
# The action server stops when the chat ends.
set -euo pipefail
cd "$(dirname "$0")/.."
mkdir -p var
# Libraries inside Rasa 3.6 print many deprecation warnings; keep the chat readable.
export PYTHONWARNINGS=ignore SQLALCHEMY_SILENCE_UBER_WARNING=1 TF_CPP_MIN_LOG_LEVEL=3
port="${ACTION_SERVER_PORT:-5055}"
# endpoints.yml reads the action server from ACTION_ENDPOINT_URL (docs/deployment.md).
export ACTION_ENDPOINT_URL="${ACTION_ENDPOINT_URL:-http://localhost:$port/webhook}"
# The demo: "I paid" confirms the booking at once (elsewhere reception checks it; README "Threat model").
export DEMO_AUTO_CONFIRM_PAYMENTS="${DEMO_AUTO_CONFIRM_PAYMENTS:-1}"
.venv/bin/python -m actions.server --port "$port" > var/action-server.log 2>&1 &
server=$!
trap 'kill $server 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do
  if curl -fsS "http://localhost:$port/health" >/dev/null 2>&1; then break; fi
  if ! kill -0 $server 2>/dev/null; then
    echo "action server failed to start:" >&2; cat var/action-server.log >&2; exit 1
  fi
  sleep 0.5
done
echo "==> action server on :$port (log: var/action-server.log). Type your messages; /stop to quit."
.venv/bin/rasa shell --model models/hotel.tar.gz --endpoints endpoints.yml --credentials credentials.yml
