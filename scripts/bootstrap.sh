#!/usr/bin/env bash
# Create .venv with Python 3.10 (Rasa 3.6 needs it) and install the pinned
# requirements. Does nothing when the venv already matches requirements.lock.
set -euo pipefail
cd "$(dirname "$0")/.."

is_py310() {
  "$@" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 10))' >/dev/null 2>&1
}

# pyenv's shims may be on PATH without pyenv itself (CI runners), so the
# interpreter is looked for by path first, then through the shims.
find_python() {
  local root="${PYENV_ROOT:-$HOME/.pyenv}" candidate
  for candidate in "$root"/versions/3.10.*/bin/python3.10 /usr/bin/python3.10 /usr/local/bin/python3.10; do
    if [ -x "$candidate" ] && is_py310 "$candidate"; then
      echo "$candidate"; return
    fi
  done
  for candidate in python3.10 python3 python; do
    if command -v "$candidate" >/dev/null 2>&1; then
      if is_py310 "$candidate"; then echo "$candidate"; return; fi
      if is_py310 env PYENV_VERSION=3.10.13 "$candidate"; then
        echo "env PYENV_VERSION=3.10.13 $candidate"; return
      fi
    fi
  done
  echo "error: Python 3.10 is required (Rasa 3.6 does not run on newer versions)" >&2
  return 1
}

stamp=.venv/.requirements.sha
wanted=$(sha256sum requirements.lock | cut -d' ' -f1)
if [ -x .venv/bin/python ] && [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$wanted" ]; then
  exit 0
fi
if [ ! -x .venv/bin/python ]; then
  echo "==> creating .venv"
  python=$(find_python)
  $python -m venv .venv
fi
echo "==> installing pinned requirements (first time: about 2 minutes)"
.venv/bin/python -m pip install --quiet --upgrade "pip==24.0"
.venv/bin/python -m pip install --quiet -r requirements.lock
echo "$wanted" > "$stamp"
