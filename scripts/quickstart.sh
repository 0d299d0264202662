#!/usr/bin/env bash
# README command 1: install, start pydockerd (which starts pycontainerd), make busybox:latest
# offline from Debian's busybox-static, and run a container from it.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install.sh
export DOCKER_HOST=unix:///run/pydocker.sock
if ! pydocker version >/dev/null 2>&1; then
  echo ">>> starting pydockerd (log: /var/log/pydockerd.log)"
  setsid pydockerd >>/var/log/pydockerd.log 2>&1 < /dev/null &
  for _ in $(seq 1 150); do pydocker version >/dev/null 2>&1 && break; sleep 0.2; done
  pydocker version >/dev/null
fi
if ! pydocker images -q busybox:latest | grep -q .; then
  echo ">>> importing busybox:latest from /bin/busybox"
  tar=$(mktemp --suffix=.tar)
  .venv/bin/python scripts/busybox_rootfs.py "$tar" >/dev/null
  pydocker import "$tar" busybox:latest
  rm -f "$tar"
fi
pydocker run --rm busybox echo hello from pydocker
