#!/usr/bin/env bash
# The one set-up step: PostgreSQL from the distribution's packages (the shared-server tests start
# their own throw-away cluster with it), then mtrec in editable mode with every extra.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null && ! command -v initdb > /dev/null; then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo="sudo"
  $sudo apt-get update
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y --no-install-recommends postgresql
fi
python -m pip install -e ".[dev,ray,server,submitit,dashboard]"
