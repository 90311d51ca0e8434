#!/usr/bin/env bash
# bench/warm_ab.sh: the warm figures of two ibuild binaries side by side,
# to show that a change does not slow them (issue 12). Alternating the
# binaries, RUNS rounds (default 5), each on its own root:
#   noop      no-op rebuild of bench/noop_rebuild.sh's 10-step Dockerfile
#             over a 200 MB, 20,000-file context (memo hit)
#   change    rebuild after one context file changed (part2/)
#   run-true  `FROM busybox` + `RUN true`, --no-cache (a RUN step end to end)
# Prints each time, then the median and range per binary.
#
# Usage (as root): bench/warm_ab.sh BIN_A BIN_B [WORKDIR]
#   e.g. git worktree add /tmp/main main && (cd /tmp/main && go build -o /tmp/ib-main ./cmd/ibuild)
set -euo pipefail
cd "$(dirname "$0")/.."
A=$1 B=$2
W=${3:-$(mktemp -d /var/tmp/ibuild-warmab.XXXXXX)}
RUNS=${RUNS:-5}
BB=${IBUILD_TESTBASES:-/var/cache/ibuild-testbases}/busybox.tar
CTX=$W/ctx RT=$W/rt
mkdir -p "$W"
if [ ! -f "$CTX/Dockerfile" ]; then
	mkdir -p "$CTX"
	python3 - "$CTX" <<'PY'
import os, random, sys
ctx = sys.argv[1]
rng = random.Random(42)
for part in ("part1", "part2"):
    for d in range(100):
        dd = os.path.join(ctx, part, "d%02d" % d)
        os.makedirs(dd, exist_ok=True)
        for f in range(100):
            with open(os.path.join(dd, "f%04d" % f), "wb") as fh:
                fh.write(rng.randbytes(10240))
PY
	cat >"$CTX/Dockerfile" <<'DF'
FROM busybox
ENV APP=/app
WORKDIR /app
COPY part1/ /app/part1/
RUN du -s /app/part1 > /app/du1
COPY part2/ /app/part2/
RUN du -s /app/part2 > /app/du2
LABEL bench=noop
RUN ls /app > /app/list
USER nobody
DF
fi
mkdir -p "$RT"
printf 'FROM busybox\nRUN true\n' >"$RT/Dockerfile"

ms() { local s; s=$(date +%s%N); "$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }; echo $((($(date +%s%N) - s) / 1000000)); }
declare -A T
for bin in A B; do
	b=${!bin}
	rm -rf "$W/root$bin"
	"$b" --root "$W/root$bin" import -t busybox "$BB" >/dev/null
	"$b" --root "$W/root$bin" --progress plain -t bench "$CTX" >/dev/null 2>&1
	"$b" --root "$W/root$bin" --progress plain -t bench "$CTX" >/dev/null 2>&1 # memo
done
echo "# $(date -u +%FT%TZ) load $(cut -d' ' -f1-3 /proc/loadavg); A=$A B=$B"
f=$CTX/part2/d00/f0000
# Per round: both no-op rebuilds, one change both then rebuild, both RUN
# true builds (the binaries share the context, so each sees the same change).
step() { T[$1,$2]+="$(ms "${!1}" --root "$W/root$1" --progress plain "${@:3}") "; }
for r in $(seq "$RUNS"); do
	for bin in A B; do step $bin noop -t bench "$CTX"; done
	printf 'round %s %s\n' "$r" "$RANDOM" >"$f"
	for bin in A B; do step $bin change -t bench "$CTX"; done
	for bin in A B; do step $bin run-true --no-cache "$RT"; done
	echo "round $r: load $(cut -d' ' -f1 /proc/loadavg)"
done
stats() { tr ' ' '\n' | grep -v '^$' | sort -n | awk '{a[NR]=$1} END {printf "median %5d ms  range %d-%d", a[int((NR+1)/2)], a[1], a[NR]}'; }
for s in noop change run-true; do
	for bin in A B; do
		printf '%-9s %s  %s  (%s)\n' "$s" "$bin" "$(echo "${T[$bin,$s]}" | stats)" "${T[$bin,$s]}"
	done
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg)"
