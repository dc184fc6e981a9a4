#!/usr/bin/env bash
# Install the system tools the tests need, from Debian's packages, only when
# they are missing (`make system-tools`, a prerequisite of `make test`):
#   promtool        (package prometheus)      checks Prometheus config, alert rules and their unit tests
#   chromium, chromedriver (chromium, chromium-driver)  headless browser tests of the staff page
#   docker-compose  (package docker-compose)  `docker-compose config` validates docker-compose.yml
#                                             (skipped when the `docker compose` plugin works)
#   redis-server    (package redis-server)    private Redis instances for restart/fault-injection tests
# Needs root (apt-get) only when something is missing; otherwise it just checks.
# Installing `prometheus` does not start a server where /usr/sbin/policy-rc.d
# forbids starting services (containers); elsewhere stop it with
# `systemctl disable --now prometheus` if you don't want one.
set -euo pipefail

missing_packages=()

require() {  # require <command> <debian package>
  command -v "$1" >/dev/null 2>&1 || missing_packages+=("$2")
}

require promtool prometheus
require chromium chromium
require chromedriver chromium-driver
require redis-server redis-server
if ! docker compose version >/dev/null 2>&1; then
  require docker-compose docker-compose
fi

if [ ${#missing_packages[@]} -eq 0 ]; then
  echo "system tools: all present (promtool, chromium, chromedriver, redis-server, docker compose or docker-compose)"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "system tools missing: ${missing_packages[*]}" >&2
  echo "install them as root: sudo $0   (or: sudo apt-get install ${missing_packages[*]})" >&2
  exit 1
fi

if ! command -v apt-get >/dev/null 2>&1; then
  echo "system tools missing: ${missing_packages[*]}; this script installs Debian packages and needs apt-get" >&2
  exit 1
fi

echo "==> installing system packages: ${missing_packages[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing_packages[@]}"
echo "system tools: installed ${missing_packages[*]}"
