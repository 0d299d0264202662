#!/usr/bin/env bash
# Install what pydocker needs on Debian 12 (as root): apt packages, the project venv in .venv,
# the generated gRPC code and the command links. Idempotent; `--test` adds the test peers.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)

PKGS=(busybox-static python3-venv python3-dev gcc iptables iproute2 ca-certificates)
if [[ "${1:-}" == "--test" ]]; then
  # the real peers the tests drive and compare against
  PKGS+=(runc containerd docker.io docker-registry docker-compose skopeo umoci jq)
fi
missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo ">>> apt-get install ${missing[*]}"
  apt-get update -qq
  # docker.io's maintainer scripts would start dockerd/containerd where an init system runs;
  # policy-rc.d keeps the host's daemons off: tests start their own on private sockets.
  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
  rm -f /usr/sbin/policy-rc.d
fi

if [[ ! -x .venv/bin/python ]] || ! .venv/bin/python -c 'import sys; sys.exit(sys.base_prefix != "/usr")'; then
  rm -rf .venv
  /usr/bin/python3 -m venv .venv
fi
stamp=.venv/.installed-$(sha256sum pyproject.toml | cut -c1-16)
if [[ ! -e "$stamp" ]]; then
  echo ">>> pip install -e .[test] into .venv"
  .venv/bin/pip install -q --disable-pip-version-check -e ".[test]"
  touch "$stamp"
fi
bash scripts/genprotos.sh "$REPO/.venv/bin/python"
# pyrunc starts through its own launcher (python3 -IS, lazy imports): runtimes are exec'd per call
ln -sf "$REPO/bin/pyrunc" .venv/bin/pyrunc
# so does pydocker (stdlib only): no site/editable-finder imports, ~2x faster start-up
ln -sf "$REPO/bin/pydocker" .venv/bin/pydocker
if [[ "${1:-}" != "--test" ]]; then
  # the commands on PATH for people; test runs (e.g. CI in a throwaway clone) leave PATH alone
  for cmd in pydocker pydockerd pycontainerd; do ln -sf "$REPO/.venv/bin/$cmd" /usr/local/bin/$cmd; done
  ln -sf "$REPO/bin/pyrunc" /usr/local/bin/pyrunc
fi
