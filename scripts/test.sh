#!/usr/bin/env bash
# Second set-up command: install what the tests need and run the whole suite with the checks.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
. .venv/bin/activate
echo "== ruff";          ruff check src tests scripts
echo "== mypy";          mypy
echo "== import-linter"; lint-imports
echo "== i18n";          python scripts/i18n.py --check
echo "== pytest"
pytest -n 2 --dist loadfile -p no:cacheprovider "$@"
