#!/usr/bin/env bash
# The RUN network (issue 13 item 3), measured in one run on this machine:
#
#   bench/network.sh          # needs root, slirp4netns, passt (pasta), curl
#   N=40 R=9 bench/network.sh
#
# 1. `RUN true` in each network mode under each engine, the modes
#    alternating, 100 ms apart (BenchmarkRunTrueNetwork), and back to back
#    in the default network (BenchmarkRunTrue/builtin/image/net-default):
#    median and minimum in ms, N runs each.
# 2. The two user-mode network helpers ibuild could use, R rounds each,
#    alternating: start-up (a process in a new network namespace exists;
#    the helper is started on it; time until it reports the interface
#    configured: slirp4netns --ready-fd, pasta's return from --config-net)
#    and the throughput of a download from the Debian mirror this
#    machine's apt uses (11.6 MB, curl inside the namespace), next to the
#    same download from the host's own namespace.
# 3. A whole `ibuild build --no-cache` of `FROM busybox` + `RUN true` per
#    network mode, R rounds, alternating (wall time, ms): the first RUN of
#    a build has no spare init waiting.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-30}
R=${R:-7}
URL=${URL:-http://deb.debian.org/debian/dists/bookworm/main/Contents-amd64.gz}
work=$(mktemp -d)
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	rm -rf "$work"
}
trap cleanup EXIT
uptime

echo "== RUN true per network mode (ms-median, ms-min; $N runs)"
go test -run XXX -bench 'RunTrueNetwork|RunTrue/builtin/image/net-default' -benchtime "${N}x" ./build/sandbox |
	awk '/^Benchmark/ {printf "%s\n", $1; for (i = 5; i < NF; i += 2) printf "    %-22s %s\n", $(i+1), $i}'

ms() { echo $(( ($2 - $1) / 1000000 )); }
median() { sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }

# holder starts a process in a new network namespace; its pid is in $p.
holder() {
	unshare -n sleep 300 </dev/null >/dev/null 2>&1 &
	p=$!
	pids+=("$p")
	sleep 0.05
}

slirp_up() { # pid -> ms until ready; leaves the helper's pid in $work/helper
	local p=$1 t0 t1
	rm -f "$work/ready"; mkfifo "$work/ready"
	t0=$(date +%s%N)
	slirp4netns --configure --mtu=65520 --disable-host-loopback --enable-sandbox --enable-seccomp \
		--ready-fd=3 "$p" tap0 3>"$work/ready" >/dev/null 2>&1 &
	echo $! >"$work/helper"
	head -c1 "$work/ready" >/dev/null
	t1=$(date +%s%N)
	ms "$t0" "$t1"
}

pasta_up() { # pid -> ms until --config-net returns
	local p=$1 t0 t1
	t0=$(date +%s%N)
	# As root pasta switches to nobody, who may not open /proc/PID/ns/net:
	# it gets the namespace as a descriptor.
	pasta --config-net -q -t none -u none -T none -U none --no-map-gw --runas 0 \
		-P "$work/helper" --netns /proc/self/fd/7 7<"/proc/$p/ns/net"
	t1=$(date +%s%N)
	ms "$t0" "$t1"
}

fetch() { # [nsenter args] -> MB/s
	"$@" curl -s -o /dev/null -w '%{speed_download}\n' "$URL" | awk '{printf "%.0f\n", $1/1e6}'
}

echo "== helper start-up (ms) and download throughput (MB/s) of $URL, $R rounds"
: >"$work/slirp.up"; : >"$work/pasta.up"; : >"$work/slirp.tp"; : >"$work/pasta.tp"; : >"$work/host.tp"
fetch >/dev/null # warm the mirror's cache
for _ in $(seq "$R"); do
	for h in slirp pasta; do
		holder
		"${h}_up" "$p" >>"$work/$h.up"
		fetch nsenter -t "$p" -n >>"$work/$h.tp"
		kill "$(cat "$work/helper")" "$p" 2>/dev/null || true
		wait "$p" 2>/dev/null || true
	done
	fetch >>"$work/host.tp"
done
printf '%-12s start-up median %s ms (%s)   throughput median %s MB/s (%s)\n' \
	slirp4netns "$(median <"$work/slirp.up")" "$(tr '\n' ' ' <"$work/slirp.up")" \
	"$(median <"$work/slirp.tp")" "$(tr '\n' ' ' <"$work/slirp.tp")"
printf '%-12s start-up median %s ms (%s)   throughput median %s MB/s (%s)\n' \
	pasta "$(median <"$work/pasta.up")" "$(tr '\n' ' ' <"$work/pasta.up")" \
	"$(median <"$work/pasta.tp")" "$(tr '\n' ' ' <"$work/pasta.tp")"
printf '%-12s throughput median %s MB/s (%s)\n' host "$(median <"$work/host.tp")" "$(tr '\n' ' ' <"$work/host.tp")"

echo "== ibuild build --no-cache of FROM busybox + RUN true (ms), $R rounds"
go build -o "$work/ibuild" ./cmd/ibuild
tarball=${IBUILD_TESTBASES:-/var/cache/ibuild-testbases}/busybox.tar
"$work/ibuild" --root "$work/root" import -t busybox "$tarball" >/dev/null
mkdir -p "$work/ctx"
printf 'FROM busybox\nRUN true\n' >"$work/ctx/Dockerfile"
modes=(default host none)
for m in "${modes[@]}"; do "$work/ibuild" --root "$work/root" build -q --no-cache --network "$m" "$work/ctx" >/dev/null; done
for _ in $(seq "$R"); do
	for m in "${modes[@]}"; do
		t0=$(date +%s%N)
		"$work/ibuild" --root "$work/root" build -q --no-cache --network "$m" "$work/ctx" >/dev/null
		ms "$t0" "$(date +%s%N)" >>"$work/build.$m"
	done
done
for m in "${modes[@]}"; do
	printf '%-8s median %s ms (%s)\n' "$m" "$(median <"$work/build.$m")" "$(tr '\n' ' ' <"$work/build.$m")"
done
uptime
