#!/usr/bin/env bash
# Proves the browser tests wait on state, not on time: runs them RUNS times in a row (default 10)
# while LOAD_PROCS busy processes (default: one per core) keep every core loaded, and stops at the
# first failing run. Extra arguments go to pytest (e.g. -k view). Logs: test-artifacts/stress-run-N.log.
#
#   ./dev.sh test -m browser        # once, to set up the venv, Chromium and fonts
#   tests/stress_browser.sh         # then this
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-10}
LOAD_PROCS=${LOAD_PROCS:-$(nproc)}
PY=${LYCHEE_VENV:-.venv}/bin/python
mkdir -p test-artifacts

load=()
stop_load() { [ ${#load[@]} -eq 0 ] || kill "${load[@]}" 2>/dev/null || true; }
trap stop_load EXIT
for _ in $(seq "$LOAD_PROCS"); do
  "$PY" -c "while True: pass" &
  load+=($!)
done
echo "load: $LOAD_PROCS busy processes on $(nproc) cores"

total_start=$(date +%s)
for run in $(seq "$RUNS"); do
  start=$(date +%s)
  log="test-artifacts/stress-run-$run.log"
  if "$PY" -m pytest -m browser -q -p no:cacheprovider "$@" >"$log" 2>&1; then
    echo "run $run/$RUNS passed in $(( $(date +%s) - start )) s: $(tail -n 1 "$log")"
  else
    echo "run $run/$RUNS FAILED after $(( $(date +%s) - start )) s: $(tail -n 1 "$log") (see $log)"
    exit 1
  fi
done
echo "all $RUNS runs passed under load in $(( $(date +%s) - total_start )) s"
