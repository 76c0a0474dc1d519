#!/usr/bin/env bash
# Install prodcat with everything its tests need into .venv, then run the whole test suite.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PYTHON" -m venv .venv
.venv/bin/python -m pip install --quiet --upgrade pip
.venv/bin/python -m pip install --quiet -e '.[lstm,encoder,test,bench,dask]'
# The page test drives Debian's Chromium headless (no browser download at run time); the README
# walkthrough test types the README's commands into a tmux terminal.
MISSING=""
command -v chromium >/dev/null 2>&1 || MISSING="$MISSING chromium"
command -v tmux >/dev/null 2>&1 || MISSING="$MISSING tmux"
if [ -n "$MISSING" ]; then
  SUDO=""; [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq $MISSING >/dev/null
fi
# One pytest worker per core (pytest-xdist): most tests wait on a subprocess, a server or an import
# on one core. `bash scripts/test.sh -n 0` runs them in this process, one after another.
exec .venv/bin/python -m pytest -n auto "$@"
