#!/usr/bin/env bash
# bench/peers.sh: ibuild against BuildKit (Debian's docker.io 20.10) on the
# reference scenario of ../shared/PEERS.md, in one run, alternating the
# builders, median wall seconds of RUNS runs each:
#   cold         --no-cache build
#   noop         rebuild with nothing changed
#   one-change   rebuild after one context file changed
#
# Usage (as root): bench/peers.sh [WORKDIR]. Installs docker.io if missing,
# starts a private dockerd (no bridge, no NAT; builds use --network=host)
# and stops it at the end. The Debian base is the test base tarball
# (hack/testbases.sh debian), imported into both builders.
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
W=${1:-$(mktemp -d /var/tmp/ibuild-peers.XXXXXX)}
BASES=${IBUILD_TESTBASES:-/var/cache/ibuild-testbases}
BIN=$PWD/bin/ibuild
export PATH=/usr/local/go/bin:$PATH
go build -o "$BIN" ./cmd/ibuild
hack/testbases.sh debian >/dev/null

if ! [ -x /usr/bin/docker ] || ! command -v dockerd >/dev/null; then
	DEBIAN_FRONTEND=noninteractive apt-get install -y docker.io >/dev/null
fi
P=/var/tmp/peer
mkdir -p $P/docker $P/exec
setsid dockerd --data-root $P/docker --exec-root $P/exec -H unix://$P/docker.sock \
	--storage-driver overlay2 --iptables=false --ip6tables=false --ip-forward=false \
	--ip-masq=false --bridge=none --userland-proxy=false >$P/dockerd.log 2>&1 &
DPID=$!
trap 'kill $DPID 2>/dev/null; wait $DPID 2>/dev/null || true' EXIT
export DOCKER_HOST=unix://$P/docker.sock
for _ in $(seq 100); do /usr/bin/docker info >/dev/null 2>&1 && break; sleep 0.2; done
/usr/bin/docker image inspect peers-debian >/dev/null 2>&1 ||
	/usr/bin/docker import "$BASES/debian-bookworm-minbase.tar" peers-debian >/dev/null

ROOT=$W/ibuild-root CTX=$W/ctx
rm -rf "$ROOT" "$CTX"
mkdir -p "$CTX/app"
"$BIN" --root "$ROOT" import -t peers-debian "$BASES/debian-bookworm-minbase.tar" >/dev/null
for i in $(seq 1 20); do echo "file $i" >"$CTX/app/f$i.txt"; done
cat >"$CTX/Dockerfile" <<'DF'
FROM peers-debian
ENV APP_HOME=/app LANG=C.UTF-8
WORKDIR /app
COPY app/ /app/
RUN for i in $(seq 1 50); do head -c 1048576 /dev/urandom > /app/blob$i; done
RUN rm -f /app/blob1 /app/blob2 /app/blob3 /app/blob4 /app/blob5 /app/blob6 /app/blob7 /app/blob8 /app/blob9 /app/blob10 /app/blob11
RUN dpkg -l > /app/packages.txt
LABEL org.example.bench=peers
CMD ["cat", "/app/packages.txt"]
DF

now() { date +%s.%N; }
# time_cmd CMD...: prints the wall seconds of CMD (output discarded).
time_cmd() {
	local s e
	s=$(now)
	"$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
	e=$(now)
	echo "$e - $s" | bc -l
}
ib() { "$BIN" --root "$ROOT" -t peers:ib "$@" "$CTX"; }
bk() { DOCKER_BUILDKIT=1 /usr/bin/docker build --network=host -t peers:bk "$@" "$CTX"; }

declare -A T
for r in $(seq 1 "$RUNS"); do
	for b in ib bk; do
		T[$b,cold]+="$(time_cmd $b --no-cache) "
		T[$b,noop]+="$(time_cmd $b) "
		echo "change $r $b" >"$CTX/app/f1.txt"
		T[$b,change]+="$(time_cmd $b) "
	done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-12s %10s %10s %8s\n' scenario ibuild buildkit ratio
for s in cold noop change; do
	i=$(echo "${T[ib,$s]}" | median)
	k=$(echo "${T[bk,$s]}" | median)
	printf '%-12s %10.3f %10.3f %8.2f\n' "$s" "$i" "$k" "$(echo "$i / $k" | bc -l)"
done
echo "(median wall seconds of $RUNS runs each, alternating; load: $(cut -d' ' -f1-3 /proc/loadavg))"
