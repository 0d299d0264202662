#!/bin/sh
# Generate the Python gRPC modules next to each .proto under protos/ (they are gitignored).
# Usage: scripts/genprotos.sh [PYTHON]   (default: <repo>/.venv/bin/python)
set -eu
ROOT=$(cd "$(dirname "$0")/.." && pwd)
PY=${1:-$ROOT/.venv/bin/python}
cd "$ROOT"
PROTOS=$(find protos -name '*.proto' | sort)
# -I <repo root>: imports are written "protos/...", so the generated code imports protos.<...>_pb2.
"$PY" -m grpc_tools.protoc -I "$ROOT" --python_out="$ROOT" --grpc_python_out="$ROOT" $PROTOS
# Every directory becomes a regular package so setuptools finds it.
find protos -type d ! -name __pycache__ | while read -r d; do
    [ -e "$d/__init__.py" ] || : > "$d/__init__.py"
done
echo "generated $(echo "$PROTOS" | wc -l) proto files"
