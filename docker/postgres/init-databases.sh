#!/bin/bash
# Runs once, when the PostgreSQL volume is empty (mounted into
# /docker-entrypoint-initdb.d by docker-compose.yml). Creates:
#   role rasa      -> database rasa       Rasa's tracker store (TRACKER_STORE_URL)
#   role assistant -> database assistant  staff requests, dead-letter permanent failures
#                  -> database pms        the embedded PMS (PMS_BACKEND=local)
# Passwords come from TRACKER_DB_PASSWORD and ASSISTANT_DB_PASSWORD and are
# passed to psql as variables, never echoed.
set -euo pipefail
: "${TRACKER_DB_PASSWORD:?set TRACKER_DB_PASSWORD}"
: "${ASSISTANT_DB_PASSWORD:?set ASSISTANT_DB_PASSWORD}"

psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  --set=tracker_password="$TRACKER_DB_PASSWORD" \
  --set=assistant_password="$ASSISTANT_DB_PASSWORD" <<'SQL'
CREATE ROLE rasa LOGIN PASSWORD :'tracker_password';
CREATE DATABASE rasa OWNER rasa;
CREATE ROLE assistant LOGIN PASSWORD :'assistant_password';
CREATE DATABASE assistant OWNER assistant;
CREATE DATABASE pms OWNER assistant;
REVOKE ALL ON DATABASE rasa FROM PUBLIC;
REVOKE ALL ON DATABASE assistant FROM PUBLIC;
REVOKE ALL ON DATABASE pms FROM PUBLIC;
SQL
echo "init-databases: created databases rasa, assistant, pms"
