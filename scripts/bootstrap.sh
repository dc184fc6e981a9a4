#!/usr/bin/env bash
# Create .venv with Python 3.10 (Rasa 3.6 needs it) and install the pinned
# requirements. Does nothing when the venv already matches requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

find_python() {
  if command -v pyenv >/dev/null 2>&1 && pyenv versions --bare 2>/dev/null | grep -qx '3.10.13'; then
    echo "env PYENV_VERSION=3.10.13 python"; return
  fi
  for candidate in python3.10 python3; do
    if command -v "$candidate" >/dev/null 2>&1 && "$candidate" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))'; then
      echo "$candidate"; return
    fi
  done
  echo "error: Python 3.10 is required (Rasa 3.6 does not run on newer versions)" >&2
  exit 1
}

stamp=.venv/.requirements.sha
wanted=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  $(find_python) -m venv .venv
fi
echo "==> installing pinned requirements (first time: about 2 minutes)"
.venv/bin/python -m pip install --quiet --upgrade "pip==24.0"
.venv/bin/python -m pip install --quiet -r requirements.lock
echo "$wanted" > "$stamp"
