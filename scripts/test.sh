#!/usr/bin/env bash
# README command 2 (and CI): install everything the tests need, then run the suite.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh --test
exec .venv/bin/python -m pytest -p no:cacheprovider -ra "$@" tests
