#!/usr/bin/env bash
# bench/fresh_root.sh: a fresh CI runner (issue 12). The reference Debian
# Dockerfile of ../shared/PEERS.md (ENV, WORKDIR, COPY, a RUN writing
# 50 MiB, two small RUNs, LABEL, CMD) built FROM a Debian minbase image in a
# registry on 127.0.0.1, by ibuild on an empty --root and by BuildKit
# v0.17.3 (buildkitd + buildctl, OCI worker) with its state directory
# removed and the daemon restarted before each build (no base image, no
# build cache; the restart is not timed). Both pull the same gzip base from
# the same registry and store a compressed image. Alternating, RUNS rounds
# (default 5); prints each wall time with the load average, the medians and
# the ratio. The last ibuild run's plain progress is kept in WORKDIR/ib.log.
#
# Usage (as root): bench/fresh_root.sh [WORKDIR]
# Needs docker-registry (hack/apt-packages.txt) and BuildKit from
# hack/buildkit.sh (BUILDKIT_BIN overrides its bin directory).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-5}
W=${1:-$(mktemp -d /var/tmp/ibuild-fresh.XXXXXX)}
BASES=${IBUILD_TESTBASES:-/var/cache/ibuild-testbases}
export PATH=/usr/local/go/bin:$PATH
BIN=$W/ibuild
go build -o "$BIN" ./cmd/ibuild
hack/testbases.sh debian >/dev/null
BK=${BUILDKIT_BIN:-$(hack/buildkit.sh)}
mkdir -p "$W"

regpid= bkpid=
stop_bk() {
	if [ -n "$bkpid" ]; then
		kill "$bkpid" 2>/dev/null || true
		wait "$bkpid" 2>/dev/null || true
		bkpid=
	fi
}
cleanup() {
	stop_bk
	[ -n "$regpid" ] && kill "$regpid" 2>/dev/null
	wait 2>/dev/null || true
}
trap cleanup EXIT

# The registry both builders pull the base from.
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
rm -rf "$W/regdata"
cat >"$W/reg.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $W/regdata}}
http: {addr: $reg}
YML
/usr/bin/docker-registry serve "$W/reg.yml" >"$W/reg.log" 2>&1 &
regpid=$!
for _ in $(seq 100); do curl -fs "http://$reg/v2/" >/dev/null && break; sleep 0.1; done
rm -rf "$W/seed"
"$BIN" --root "$W/seed" import -t debian "$BASES/debian-bookworm-minbase.tar" >/dev/null
"$BIN" --root "$W/seed" push debian "$reg/base/debian:bookworm" >/dev/null 2>&1
rm -rf "$W/seed"

CTX=$W/ctx
rm -rf "$CTX"
mkdir -p "$CTX/app"
for i in $(seq 1 20); do echo "file $i" >"$CTX/app/f$i.txt"; done
cat >"$CTX/Dockerfile" <<DF
FROM $reg/base/debian:bookworm
ENV APP_HOME=/app LANG=C.UTF-8
WORKDIR /app
COPY app/ /app/
RUN for i in \$(seq 1 50); do head -c 1048576 /dev/urandom > /app/blob\$i; done
RUN rm -f /app/blob1 /app/blob2 /app/blob3 /app/blob4 /app/blob5 /app/blob6 /app/blob7 /app/blob8 /app/blob9 /app/blob10 /app/blob11
RUN dpkg -l > /app/packages.txt
LABEL org.example.bench=fresh
CMD ["cat", "/app/packages.txt"]
DF

# start_bk starts a buildkitd with empty state and waits until it answers.
start_bk() {
	rm -rf "$W/bk"
	mkdir -p "$W/bk"
	printf '[registry."%s"]\n  http = true\n  insecure = true\n' "$reg" >"$W/bk/buildkitd.toml"
	setsid "$BK/buildkitd" --root "$W/bk/state" --addr "unix://$W/bk/buildkitd.sock" \
		--config "$W/bk/buildkitd.toml" --oci-worker=true --containerd-worker=false \
		--oci-worker-net=host >"$W/bk/buildkitd.log" 2>&1 &
	bkpid=$!
	for _ in $(seq 150); do
		"$BK/buildctl" --addr "unix://$W/bk/buildkitd.sock" debug workers >/dev/null 2>&1 && return
		sleep 0.2
	done
	echo "buildkitd did not start" >&2
	exit 1
}

now() { date +%s.%N; }
time_cmd() {
	local s e
	s=$(now)
	"$@" >"$W/last.log" 2>&1 || { echo "failed: $*" >&2; cat "$W/last.log" >&2; exit 1; }
	e=$(now)
	echo "$e - $s" | bc -l
}
ib() { "$BIN" --root "$W/root" build --progress plain -t fresh:ib "$CTX"; }
bk() {
	"$BK/buildctl" --addr "unix://$W/bk/buildkitd.sock" build --frontend dockerfile.v0 \
		--local context="$CTX" --local dockerfile="$CTX" \
		--output "type=image,name=docker.io/library/fresh:bk"
}

declare -A T
echo "# $(date -u +%FT%TZ), $(nproc) cores, load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$RUNS"); do
	for b in ib bk; do
		if [ $b = ib ]; then
			rm -rf "$W/root"
		else
			stop_bk
			start_bk
		fi
		sync
		t=$(time_cmd $b)
		[ $b = ib ] && cp "$W/last.log" "$W/ib.log"
		T[$b]+="$t "
		printf 'round %d %-3s %6.2f s  (load %s)\n' "$r" "$b" "$t" "$(cut -d' ' -f1 /proc/loadavg)"
	done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
range() { tr ' ' '\n' | grep -v '^$' | sort -g | awk 'NR==1 {lo=$1} {hi=$1} END {printf "%.2f-%.2f", lo, hi}'; }
mi=$(echo "${T[ib]}" | median) mk=$(echo "${T[bk]}" | median)
printf 'ibuild (empty --root)      median %.2f s  range %s s\n' "$mi" "$(echo "${T[ib]}" | range)"
printf 'BuildKit v0.17.3 (empty)   median %.2f s  range %s s\n' "$mk" "$(echo "${T[bk]}" | range)"
printf 'ibuild / BuildKit          %.2f\n' "$(echo "$mi / $mk" | bc -l)"
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
