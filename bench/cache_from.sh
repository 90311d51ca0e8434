#!/usr/bin/env bash
# Cold --cache-from build of a 10-instruction Dockerfile (7 reported steps) on an empty --root, next to
# a warm local rebuild of the same Dockerfile.
#
#   bench/cache_from.sh            # builds bin/ibuild, needs root, docker-registry and the busybox test base
#
# It starts Debian's docker-registry on 127.0.0.1 (plain HTTP), pushes the
# busybox base there, builds once with --cache-to (root A), rebuilds on root
# A (warm local cache), then builds on an empty root B with --cache-from,
# and, after a one-file change (data2), on an empty root C with
# --cache-from: that build fetches only the layers of the steps before the
# change, shown as "fetching cache layer" tasks in the progress.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/ibuild ./cmd/ibuild
IB=$PWD/bin/ibuild
BASE_TAR=${IBUILD_TESTBASES:-/var/cache/ibuild-testbases}/busybox.tar
work=$(mktemp -d)
regpid=
cleanup() { [ -n "$regpid" ] && kill "$regpid" 2>/dev/null; wait 2>/dev/null || true; rm -rf "$work"; }
trap cleanup EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
cat > "$work/reg.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $work/regdata}}
http: {addr: $reg}
YML
/usr/bin/docker-registry serve "$work/reg.yml" >"$work/reg.log" 2>&1 &
regpid=$!
for _ in $(seq 100); do curl -fs "http://$reg/v2/" >/dev/null && break; sleep 0.1; done

"$IB" --root "$work/seed" import -t bb "$BASE_TAR" >/dev/null
"$IB" --root "$work/seed" push bb "$reg/base/busybox:1" >/dev/null 2>&1

ctx=$work/ctx
mkdir -p "$ctx"
for i in 1 2 3; do head -c 200000 /dev/urandom > "$ctx/data$i"; done
cat > "$ctx/Dockerfile" <<DF
FROM $reg/base/busybox:1
ENV A=1
RUN echo one > /one
COPY data1 /data1
RUN cat /data1 /one > /two
WORKDIR /app
COPY data2 data3 ./
RUN ls -l /app > /app/listing
LABEL bench=cache-from
RUN sh -c 'for i in 1 2 3 4 5; do echo \$i; done > /five'
DF

t() { local s e; s=$(date +%s.%N); "$@" >/dev/null 2>&1; e=$(date +%s.%N); echo "$e - $s" | bc; }
cache="type=registry,ref=$reg/cache/bench:1"
cold=$(t "$IB" --root "$work/a" --progress plain --cache-to "$cache,mode=max" "$ctx")
warm=$(t "$IB" --root "$work/a" --progress plain "$ctx")
from=$(t "$IB" --root "$work/b" --progress plain --metadata-file "$work/meta.json" --cache-from "$cache" "$ctx")
echo changed >> "$ctx/data2"
s=$(date +%s.%N)
"$IB" --root "$work/c" --progress plain --cache-from "$cache" "$ctx" >"$work/c.log" 2>&1
e=$(date +%s.%N)
change=$(echo "$e - $s" | bc)
fetched=$(grep -o 'fetching cache layer sha256:[0-9a-f]*' "$work/c.log" | sort -u | wc -l)
cached=$(python3 -c 'import json,sys; s=json.load(open(sys.argv[1]))["ibuild.steps"]; print(sum(x["cached"] for x in s), "/", len(s))' "$work/meta.json")
printf 'cold build + --cache-to (root A):          %6.2fs\n' "$cold"
printf 'warm local rebuild (root A):               %6.2fs\n' "$warm"
printf 'cold --cache-from on empty root B:         %6.2fs  (%s steps cached; FROM is a pull)\n' "$from" "$cached"
printf 'same after a one-file change (root C):     %6.2fs  (%s cache layers fetched: those of the steps before the change)\n' "$change" "$fetched"
