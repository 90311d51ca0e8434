#!/usr/bin/env bash
# bench/parallel_stages.sh: two independent stages that each sleep 5 s and
# a final stage copying from both (issue 12, target <= 6 s), built with
# --no-cache by ibuild (default --jobs, and --jobs 1 for reference) and by
# BuildKit v0.17.3 (buildkitd + buildctl, OCI worker), alternating, RUNS
# rounds; prints each wall time, the medians and the load average.
#
# Usage (as root): bench/parallel_stages.sh [WORKDIR]
# BUILDKIT_BIN (default: /var/cache/ibuild-peers/buildkit-v0.17.3/bin, else
# /var/tmp/peer/bin) holds buildkitd and buildctl; without them only ibuild
# is measured. The private buildkitd (own socket and state under WORKDIR)
# is stopped by its PID at the end. The base is the busybox test tarball,
# given to BuildKit as an OCI layout named context.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
W=${1:-$(mktemp -d /var/tmp/ibuild-parallel.XXXXXX)}
BASES=${IBUILD_TESTBASES:-/var/cache/ibuild-testbases}
BIN=$W/ibuild
export PATH=/usr/local/go/bin:$PATH
go build -o "$BIN" ./cmd/ibuild
hack/testbases.sh busybox >/dev/null
BK=${BUILDKIT_BIN:-/var/cache/ibuild-peers/buildkit-v0.17.3/bin}
[ -x "$BK/buildkitd" ] || BK=/var/tmp/peer/bin

ROOT=$W/ibuild-root CTX=$W/ctx
rm -rf "$ROOT" "$CTX" "$W/layout"
mkdir -p "$CTX"
"$BIN" --root "$ROOT" import -t busybox "$BASES/busybox.tar" >/dev/null
cat >"$CTX/Dockerfile" <<'DF'
FROM busybox AS a
RUN sleep 5; echo a > /a
FROM busybox AS b
RUN sleep 5; echo b > /b
FROM busybox
COPY --from=a /a /a
COPY --from=b /b /b
DF

now() { date +%s.%N; }
time_cmd() {
	local s e
	s=$(now)
	"$@" >"$W/last.log" 2>&1 || { echo "failed: $*" >&2; cat "$W/last.log" >&2; exit 1; }
	e=$(now)
	echo "$e - $s" | bc -l
}
ib() { "$BIN" --root "$ROOT" build --no-cache "$@" "$CTX"; }

builders="ib ib1"
if [ -x "$BK/buildkitd" ] && [ -x "$BK/buildctl" ]; then
	# The busybox base as an OCI layout for BuildKit's named context.
	mkdir -p "$W/bbctx"
	echo 'FROM busybox' >"$W/bbctx/Dockerfile"
	"$BIN" --root "$ROOT" build -o "type=oci,dest=$W/layout" "$W/bbctx" >/dev/null 2>&1
	DIGEST=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$W/layout/index.json")
	mkdir -p "$W/bk"
	setsid "$BK/buildkitd" --root "$W/bk/state" --addr "unix://$W/bk/buildkitd.sock" \
		--oci-worker=true --containerd-worker=false --oci-worker-net=host >"$W/bk/buildkitd.log" 2>&1 &
	BKPID=$!
	trap 'kill $BKPID 2>/dev/null; wait $BKPID 2>/dev/null || true' EXIT
	for _ in $(seq 100); do "$BK/buildctl" --addr "unix://$W/bk/buildkitd.sock" debug workers >/dev/null 2>&1 && break; sleep 0.2; done
	bk() {
		"$BK/buildctl" --addr "unix://$W/bk/buildkitd.sock" build --frontend dockerfile.v0 \
			--local context="$CTX" --local dockerfile="$CTX" --no-cache \
			--oci-layout "bb=$W/layout" --opt "context:busybox=oci-layout://bb@$DIGEST" \
			--output "type=oci,dest=$W/bk-out.tar"
	}
	bk >/dev/null 2>&1 || { echo "buildkit warm-up build failed" >&2; exit 1; }
	builders="ib ib1 bk"
fi
ib1() { ib --jobs 1; }

declare -A T
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg)"
for r in $(seq 1 "$RUNS"); do
	for b in $builders; do
		t=$(time_cmd $b)
		T[$b]+="$t "
		printf 'round %d %-4s %.2f s (load %s)\n' "$r" "$b" "$t" "$(cut -d' ' -f1 /proc/loadavg)"
	done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for b in $builders; do
	case $b in
	ib) name="ibuild (--jobs default)" ;;
	ib1) name="ibuild --jobs 1" ;;
	bk) name="BuildKit v0.17.3" ;;
	esac
	printf '%-26s median %.2f s  (%s)\n' "$name" "$(echo "${T[$b]}" | median)" "${T[$b]}"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
