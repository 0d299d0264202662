#!/bin/bash
# Runtime conformance: build a runtime-tools style validation suite offline from Debian's
# packages and run it against pyrunc and runc on this machine, then print the comparison.
#
#   scripts/conformance/runtime_tools.sh [--only TEST[,TEST...]] [--runtimes runc,pyrunc]
#
# Environment:
#   RT_CACHE        build cache and results (default /var/cache/pydocker-conformance)
#   RT_RESULTS      results directory (default $RT_CACHE/results/<UTC timestamp>)
#   RT_TIMEOUT      per-test timeout in seconds (default 120)
#   RT_SUITE        auto (default) | debian-source | rtsuite   (see README.md)
#   RUNC, PYRUNC    the runtimes (default: runc on PATH, <repo>/bin/pyrunc)
#
# Exit status: 0 when pyrunc passes every test that runc passes, 1 otherwise, 2 on a setup error.
# Needs root (containers, cgroups). Everything it creates outside RT_CACHE is removed on exit.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
CACHE="${RT_CACHE:-/var/cache/pydocker-conformance}"
TIMEOUT="${RT_TIMEOUT:-120}"
SUITE="${RT_SUITE:-auto}"
RUNC="${RUNC:-$(command -v runc || echo /usr/sbin/runc)}"
PYRUNC="${PYRUNC:-$REPO/bin/pyrunc}"
PY="$REPO/.venv/bin/python"; [ -x "$PY" ] || PY=python3
ONLY=""
RUNTIMES="runc,pyrunc"
while [ $# -gt 0 ]; do
    case "$1" in
        --only) ONLY="$2"; shift 2 ;;
        --runtimes) RUNTIMES="$2"; shift 2 ;;
        -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
        *) echo "unknown argument $1" >&2; exit 2 ;;
    esac
done
[ "$(id -u)" = 0 ] || { echo "runtime_tools.sh: must run as root" >&2; exit 2; }

log() { echo "[conformance] $*" >&2; }

# ------------------------------------------------------------------ packages (apt only)
PKGS="golang-go golang-github-opencontainers-runtime-tools-dev libc6-dev busybox-static util-linux tar"
missing=""
for p in $PKGS; do dpkg -s "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$missing" ]; then
    log "installing$missing"
    if ! DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null; then
        apt-get update >/dev/null
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends $missing >/dev/null
    fi
fi

mkdir -p "$CACHE"
BUILD="$CACHE/build"
mkdir -p "$BUILD"
export GO111MODULE=off GOPROXY=off GOFLAGS= GOCACHE="$CACHE/gocache" CGO_ENABLED=0
GOCODE=/usr/share/gocode

# ------------------------------------------------------------------ route 1: upstream suite from Debian's source package
# The -dev binary package ships only runtime-tools' library packages (no validation/, no
# cmd/runtimetest, no rootfs tarball); the upstream tests are only in the source package
# (orig tarball, vendor/ removed). Fetch it with apt-get source through a private deb-src
# list (the system's apt configuration is not touched) and build it in GOPATH mode against
# /usr/share/gocode.
debian_source_suite() {
    local src="$CACHE/debian-source" aptd="$CACHE/debian-source/apt"
    rm -rf "$src/dl" "$src/gopath"; mkdir -p "$aptd/lists/partial" "$src/dl"
    local mirror
    mirror="$(sed -n 's/^URIs: *//p' /etc/apt/sources.list.d/debian.sources 2>/dev/null | head -1)"
    echo "deb-src ${mirror:-http://deb.debian.org/debian} bookworm main" > "$aptd/sources.list"
    local opts=(-o "Dir::Etc::sourcelist=$aptd/sources.list" -o "Dir::Etc::sourceparts=-" -o "Dir::State::Lists=$aptd/lists")
    # the Sources index is refreshed at most once a day
    if [ -z "$(find "$aptd/lists" -maxdepth 1 -name '*Sources*' -mtime -1 2>/dev/null)" ]; then
        apt-get "${opts[@]}" update >"$src/apt.log" 2>&1 || { log "route debian-source: apt-get update failed"; return 1; }
    fi
    (cd "$src/dl" && apt-get "${opts[@]}" source --download-only golang-github-opencontainers-runtime-tools) >>"$src/apt.log" 2>&1 || {
        log "route debian-source: apt-get source failed: $(grep -m1 '^E:' "$src/apt.log" || tail -1 "$src/apt.log")"; return 1; }
    local orig; orig="$(ls "$src"/dl/*.orig.tar.* | head -1)"
    mkdir -p "$src/gopath/src/github.com/opencontainers/runtime-tools"
    tar -xf "$orig" -C "$src/gopath/src/github.com/opencontainers/runtime-tools" --strip-components=1
    local tree="$src/gopath/src/github.com/opencontainers/runtime-tools"
    [ -d "$tree/validation" ] && [ -d "$tree/cmd/runtimetest" ] || { log "route debian-source: no validation/ in the source"; return 1; }
    # the tests import github.com/mndrix/tap-go and github.com/google/uuid: Debian ships uuid
    # (golang-github-google-uuid-dev) but not tap-go, for which our own API-compatible
    # writer (tapshim/) stands in
    DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends golang-github-google-uuid-dev >/dev/null 2>&1 || true
    if [ ! -d "$GOCODE/src/github.com/mndrix/tap-go" ]; then
        mkdir -p "$src/gopath/src/github.com/mndrix/tap-go"
        cp "$HERE/tapshim/tap.go" "$src/gopath/src/github.com/mndrix/tap-go/"
    fi
    (cd "$tree" && GOPATH="$src/gopath:$GOCODE" go build -tags "netgo osusergo" -ldflags "-extldflags -static" -o runtimetest ./cmd/runtimetest) || return 1
    local f
    for f in $(cd "$tree" && find validation -name '*.go' | grep -v util); do
        (cd "$tree" && GOPATH="$src/gopath:$GOCODE" go build -o "${f%.go}.t" "./$f") || return 1
    done
    if [ ! -f "$tree/rootfs-amd64.tar.gz" ]; then
        "$PY" "$REPO/scripts/busybox_rootfs.py" "$src/rootfs.tar" >/dev/null && gzip -c "$src/rootfs.tar" > "$tree/rootfs-amd64.tar.gz" || return 1
    fi
    SUITE_DIR="$tree"
    TESTS=$(cd "$tree" && find validation -name '*.t' | sort)
    run_test() { (cd "$SUITE_DIR" && "./$1"); }
    test_name() { basename "$1" .t; }
    return 0
}

# ------------------------------------------------------------------ route 2: pydocker's rtsuite on Debian's runtime-tools libraries
rtsuite() {
    local gp="$BUILD/gopath"
    rm -rf "$gp/src/pydocker.local"; mkdir -p "$gp/src/pydocker.local"
    cp -r "$HERE/rtsuite" "$gp/src/pydocker.local/rtsuite"
    GOPATH="$gp:$GOCODE" go build -tags "netgo osusergo" -ldflags "-extldflags -static" -o "$BUILD/runtimetest" pydocker.local/rtsuite/runtimetest
    GOPATH="$gp:$GOCODE" go build -o "$BUILD/rtval" pydocker.local/rtsuite/rtval
    "$PY" "$REPO/scripts/busybox_rootfs.py" "$BUILD/rootfs.tar" >/dev/null
    SUITE_DIR="$BUILD"
    TESTS=$("$BUILD/rtval" list)
    run_test() { (cd "$SUITE_DIR" && RTSUITE_DIR="$SUITE_DIR" ./rtval "$1"); }
    test_name() { echo "$1"; }
}

case "$SUITE" in
    debian-source) debian_source_suite || { log "route debian-source failed"; exit 2; }; SUITE_USED=debian-source ;;
    rtsuite) rtsuite; SUITE_USED=rtsuite ;;
    auto)
        if debian_source_suite; then SUITE_USED=debian-source
        else log "falling back to pydocker's rtsuite (scripts/conformance/rtsuite, on Debian's runtime-tools libraries)"; rtsuite; SUITE_USED=rtsuite
        fi ;;
    *) echo "RT_SUITE must be auto, debian-source or rtsuite" >&2; exit 2 ;;
esac
log "suite: $SUITE_USED ($(echo "$TESTS" | wc -l) tests)"

if [ -n "$ONLY" ]; then
    sel=""
    for t in $TESTS; do
        case ",$ONLY," in *",$(test_name "$t"),"*) sel="$sel $t" ;; esac
    done
    TESTS="$sel"
fi

# ------------------------------------------------------------------ run
RESULTS="${RT_RESULTS:-$CACHE/results/$(date -u +%Y%m%dT%H%M%SZ)}"
mkdir -p "$RESULTS"
echo "$SUITE_USED" > "$RESULTS/suite"
PRIV="$(mktemp -d /tmp/pydocker-conformance.XXXXXX)"

runtime_bin() { case "$1" in runc) echo "$RUNC" ;; pyrunc) echo "$PYRUNC" ;; *) echo "$1" ;; esac; }

# delete every container left in a private root, then our cgroups
sweep() {
    local bin="$1" root="$2" id
    [ -d "$root" ] || return 0
    for id in $(ls "$root" 2>/dev/null); do
        [ -d "$root/$id" ] || continue
        "$bin" --root "$root" kill "$id" KILL >/dev/null 2>&1 || true
        timeout 30 "$bin" --root "$root" delete --force "$id" >/dev/null 2>&1 || true
    done
    # cgroups made by the tests: rtsuite/<id> (absolute or under the runtime's cgroup) and
    # rtsuite-cgrouptest-*; deepest first, only empty ones can go
    find /sys/fs/cgroup -mindepth 1 -depth -type d \( -name 'rtsuite*' -o -path '*/rtsuite/*' -o -name 'cgrouptest' \) \
        -exec rmdir {} \; 2>/dev/null || true
}

cleanup() {
    local r
    for r in ${RUNTIMES//,/ }; do sweep "$(runtime_bin "$r")" "$PRIV/$r/root"; done
    rm -rf "$PRIV"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

for r in ${RUNTIMES//,/ }; do
    bin="$(runtime_bin "$r")"
    [ -x "$bin" ] || { log "runtime $r: $bin is not executable"; exit 2; }
    mkdir -p "$PRIV/$r/root" "$PRIV/$r/tmp" "$RESULTS/$r"
    wrapper="$PRIV/$r/runtime"
    printf '#!/bin/sh\nexec %q --root %q "$@"\n' "$bin" "$PRIV/$r/root" > "$wrapper"
    chmod +x "$wrapper"
    log "running $(echo $TESTS | wc -w) tests against $r ($bin)"
    : > "$RESULTS/$r.tsv"
    for t in $TESTS; do
        name="$(test_name "$t")"
        out="$RESULTS/$r/$name.tap"
        start=$EPOCHREALTIME
        set +e
        RUNTIME="$wrapper" TMPDIR="$PRIV/$r/tmp" timeout -k 10 "$TIMEOUT" bash -c "$(declare -f run_test); SUITE_DIR='$SUITE_DIR'; run_test '$t'" >"$out" 2>"$RESULTS/$r/$name.stderr" </dev/null
        rc=$?
        set -e
        secs=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN{printf "%.1f", b-a}')
        sweep "$bin" "$PRIV/$r/root"
        rm -rf "${PRIV:?}/$r/tmp/"*
        # pass: rc 0, no "not ok", no non-empty YAML "error": (hook tests report only that)
        verdict=pass reason=""
        if [ "$rc" = 124 ] || [ "$rc" = 137 ]; then
            verdict=fail reason="timeout after ${TIMEOUT}s"
        elif grep -q '^not ok' "$out"; then
            verdict=fail reason="$(grep -m1 -A2 '^not ok' "$out" | tr '\n\t' '  ' | cut -c1-300)"
        elif grep -Eq '"error": *"[^"]+' "$out"; then
            verdict=fail reason="$(grep -m1 -E '"error":' "$out" | cut -c1-300)"
        elif [ "$rc" != 0 ]; then
            verdict=fail reason="exit status $rc: $(tail -c 200 "$RESULTS/$r/$name.stderr" | tr '\n\t' '  ')"
        elif ! grep -q '^ok' "$out"; then
            verdict=fail reason="no test point ran"
        fi
        printf '%s\t%s\t%s\t%s\n' "$name" "$verdict" "$rc" "$reason" >> "$RESULTS/$r.tsv"
        printf '  %-40s %-4s %5.1fs %s\n' "$name" "$verdict" "$secs" "${reason:0:100}" >&2
    done
done

# ------------------------------------------------------------------ leftovers check
left=""
mount | grep -E 'ocitest|pydocker-conformance' >/dev/null && left="$left mounts"
find /sys/fs/cgroup -mindepth 1 -type d \( -name 'rtsuite*' -o -path '*/rtsuite/*' \) 2>/dev/null | grep -q . && left="$left cgroups"
[ -n "$left" ] && log "WARNING: leftovers after the run:$left"

"$PY" "$HERE/report.py" "$RESULTS"
