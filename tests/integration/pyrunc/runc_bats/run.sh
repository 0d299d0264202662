#!/bin/bash
# Run runc v1.1.5's own bats integration suite against pyrunc (manual conformance check; not
# part of pytest). Usage: run.sh RUNC_GIT_DIR [file.bats ...]
#   RUNC_GIT_DIR: a clone of github.com/opencontainers/runc that has the v1.1.5 tag.
# Needs bats, jq, gawk, xz. Images are built offline from busybox-static; recvtty is a Python
# stand-in; `go env GOARCH` (used by get-images.sh) is answered by a shim.
set -euo pipefail
here=$(dirname "$(readlink -f "$0")")
repo=$(readlink -f "$here/../../../..")
src=${1:?usage: run.sh RUNC_GIT_DIR [file.bats ...]}
shift
work=$(mktemp -d /tmp/pyrunc-bats-XXXXXX)
trap 'rm -rf "$work"' EXIT
git -C "$src" archive v1.1.5 tests/integration | tar -x -C "$work"
mkdir -p "$work/bin" "$work/contrib/cmd/recvtty"
printf '#!/bin/sh\necho amd64\n' >"$work/bin/go"
chmod +x "$work/bin/go"
cp "$here/recvtty" "$work/contrib/cmd/recvtty/recvtty"
chmod +x "$work/contrib/cmd/recvtty/recvtty"
"$repo/.venv/bin/python" -c "import sys; sys.path.insert(0, '$repo')
from scripts.busybox_rootfs import write_rootfs_tar; write_rootfs_tar('$work/busybox.tar')"
data="$work/tests/integration/testdata"
xz -1 -c "$work/busybox.tar" >"$data/busybox-amd64.tar.xz"
cp "$data/busybox-amd64.tar.xz" "$data/debian-amd64.tar.xz"
cd "$work/tests/integration"
export PATH="$work/bin:$PATH" RUNC="$repo/bin/pyrunc"
if [ $# -eq 0 ]; then
	set -- start kill delete state create run exec list ps pause spec cwd umask mask \
		start_detached start_hello mounts dev update cgroups tty help version root seccomp
	set -- "${@/%/.bats}"
fi
bats "$@"
