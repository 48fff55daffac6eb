#!/usr/bin/env bash
# First set-up command: install cellcall and start the demo (SQLite file + simulated SIP line).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
exec .venv/bin/cellcall --demo "$@"
