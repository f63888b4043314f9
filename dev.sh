#!/usr/bin/env bash
# One entry point for a fresh clone: `./dev.sh app` sets up and starts the app,
# `./dev.sh test` sets up, lints (ruff) and runs the whole test suite (what CI runs),
# `./dev.sh lint` only lints (pass --fix to let ruff fix what it can).
set -euo pipefail
cd "$(dirname "$0")"

VENV=${LYCHEE_VENV:-.venv}
PY="$VENV/bin/python"

log() { printf '\033[1m[dev]\033[0m %s\n' "$*" >&2; }

setup_python() {
  if [ ! -x "$PY" ]; then
    log "creating $VENV"
    python3 -m venv "$VENV"
    "$PY" -m pip install -q --upgrade pip
  fi
  if ! "$PY" -c "import torch, torchvision" 2>/dev/null; then
    log "installing PyTorch (first run only; large)"
    "$PY" -m pip install -q "torch==2.14.1" "torchvision==0.29.1"
  fi
  local stamp="$VENV/.lychee-installed"
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    log "installing lychee-rerank with the app, serve and dev extras"
    "$PY" -m pip install -q -e ".[app,serve,dev]"
    touch "$stamp"
  fi
}

# The browser tests drive Debian's Chromium; CJK fonts make the Chinese labels render.
setup_browser() {
  # grep without -q reads all of fc-list: an early exit would SIGPIPE it and fail under pipefail.
  if [ -x /usr/bin/chromium ] && fc-list 2>/dev/null | grep -i "noto.*cjk" >/dev/null; then
    return
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing chromium and fonts-noto-cjk with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium fonts-noto-cjk >/dev/null
}

# The sidecar tests read the XMP we write with exiftool, a reader no one here wrote.
setup_exiftool() {
  if command -v exiftool >/dev/null; then
    return
  fi
  local sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  log "installing libimage-exiftool-perl (exiftool) with apt-get"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq libimage-exiftool-perl >/dev/null
}

case "${1:-}" in
  app)
    shift
    setup_python
    export LYCHEE_MODEL="${LYCHEE_MODEL:-demo}"
    log "starting the app with model '$LYCHEE_MODEL' (set LYCHEE_MODEL to use another)"
    exec "$VENV/bin/streamlit" run app.py "$@"
    ;;
  test)
    shift
    setup_python
    setup_browser
    setup_exiftool
    log "ruff (lint: pyflakes, pycodestyle, isort, pyupgrade; config in pyproject.toml)"
    "$VENV/bin/ruff" check .
    exec "$PY" -m pytest "$@"
    ;;
  lint)
    shift
    setup_python
    exec "$VENV/bin/ruff" check . "$@"
    ;;
  *)
    echo "usage: ./dev.sh app | ./dev.sh test [pytest args] | ./dev.sh lint [ruff args]" >&2
    exit 2
    ;;
esac
