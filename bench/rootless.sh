#!/usr/bin/env bash
# bench/rootless.sh: a rootless build (an unprivileged user, see
# internal/rootless) against the same build as root, in one run,
# alternating, median wall seconds of RUNS runs each:
#   cold       --no-cache build of the reference Dockerfile (../shared/PEERS.md)
#   noop       rebuild with nothing changed (a user's runs without a user
#              namespace: see cmd/ibuild/rootless_probe.go)
#   noop-ns    the same, the user's forced into the namespace
#              (IBUILD_ROOTLESS_PROBE=off; root's is the same as noop)
#   run-true   per-step cost of RUN true: a --no-cache build of FROM busybox
#              plus 20 `RUN true` steps, minus the same build with none, / 20
# and the ratios rootless / root (targets: cold and noop within 1.2x; RUN
# true's rootless overhead under 30 ms).
#
# Usage (as root): bench/rootless.sh [WORKDIR]. Creates the user ibrlbench
# with subordinate ids (and deletes it at the end); the binary and the
# contexts live under WORKDIR (default a new /var/tmp dir, mode 0755).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-7}
W=${1:-}
OWN_W=
if [[ -z $W ]]; then
	W=$(mktemp -d /var/tmp/ibuild-rootless-bench.XXXXXX)
	OWN_W=1
fi
chmod 755 "$W"
BASES=${IBUILD_TESTBASES:-/var/cache/ibuild-testbases}
export PATH=/usr/local/go/bin:$PATH
BIN=$W/ibuild
go build -o "$BIN" ./cmd/ibuild
chmod 755 "$BIN"
hack/testbases.sh debian busybox >/dev/null

U=ibrlbench
HOMEDIR=$W/home
id "$U" >/dev/null 2>&1 || useradd -m -d "$HOMEDIR" -K SUB_UID_COUNT=0 -K SUB_GID_COUNT=0 "$U"
usermod --add-subuids 3100000000-3100065535 --add-subgids 3100000000-3100065535 "$U"
trap 'userdel -r "$U" >/dev/null 2>&1 || true; [[ -z $OWN_W ]] || rm -rf "$W"' EXIT
UID_=$(id -u "$U") GID_=$(id -g "$U")

CTX=$W/ctx RT=$W/ctx-runtrue R0=$W/ctx-run0 ROOT=$W/root-store
rm -rf "$CTX" "$RT" "$R0" "$ROOT"
mkdir -p "$CTX/app" "$RT" "$R0"
for i in $(seq 1 20); do echo "file $i" >"$CTX/app/f$i.txt"; done
cat >"$CTX/Dockerfile" <<'DF'
FROM debian
ENV APP_HOME=/app LANG=C.UTF-8
WORKDIR /app
COPY app/ /app/
RUN for i in $(seq 1 50); do head -c 1048576 /dev/urandom > /app/blob$i; done
RUN rm -f /app/blob1 /app/blob2 /app/blob3 /app/blob4 /app/blob5 /app/blob6 /app/blob7 /app/blob8 /app/blob9 /app/blob10 /app/blob11
RUN dpkg -l > /app/packages.txt
LABEL org.example.bench=peers
CMD ["cat", "/app/packages.txt"]
DF
{ echo "FROM busybox"; for i in $(seq 1 20); do echo "RUN true"; done; } >"$RT/Dockerfile"
echo "FROM busybox" >"$R0/Dockerfile"
echo 'LABEL x=y' >>"$R0/Dockerfile"
chmod -R a+rX "$W"

# The default RUN network needs /dev/net/tun open to the user (mode 0666);
# without it both builders use the host's network.
NET=()
if [[ $(stat -c %a /dev/net/tun 2>/dev/null) != 666 ]]; then
	NET=(--network host)
	echo "note: /dev/net/tun is not open to users: both builders use --network host"
fi
# as_root / as_user run ibuild with its default state directory.
# Both go through setpriv and env, so that the two extra execs count on
# both sides.
as_root() { setpriv --reuid 0 --regid 0 --clear-groups env -i PATH="$PATH" HOME=/root "$BIN" --root "$ROOT" "$@"; }
as_user() { setpriv --reuid "$UID_" --regid "$GID_" --clear-groups env -i PATH="$PATH" HOME="$HOMEDIR" ${PROBE:+IBUILD_ROOTLESS_PROBE=$PROBE} "$BIN" "$@"; }
for who in as_root as_user; do
	$who import -t debian "$BASES/debian-bookworm-minbase.tar" >/dev/null
	$who import -t busybox "$BASES/busybox.tar" >/dev/null
	$who "${NET[@]}" -t warm "$CTX" >/dev/null 2>&1 # snapshots of the bases extracted once
done

now() { date +%s.%N; }
time_cmd() {
	local s e
	s=$(now)
	"$@" >/dev/null 2>&1 || { echo "failed: $*" >&2; exit 1; }
	e=$(now)
	echo "$e - $s" | bc -l
}
declare -A T
for r in $(seq 1 "$RUNS"); do
	for who in as_root as_user; do
		T[$who,cold]+="$(time_cmd $who "${NET[@]}" -t bench --no-cache "$CTX") "
		T[$who,noop]+="$(time_cmd $who "${NET[@]}" -t bench "$CTX") "
		T[$who,noop-ns]+="$(PROBE=off time_cmd $who "${NET[@]}" -t bench "$CTX") "
		a=$(time_cmd $who "${NET[@]}" --no-cache "$RT")
		b=$(time_cmd $who "${NET[@]}" --no-cache "$R0")
		T[$who,runtrue]+="$(echo "($a - $b) / 20" | bc -l) "
	done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
printf '%-22s %10s %10s %8s\n' scenario root rootless ratio
for s in cold noop noop-ns runtrue; do
	a=$(echo "${T[as_root,$s]}" | median)
	b=$(echo "${T[as_user,$s]}" | median)
	printf '%-22s %10.3f %10.3f %8.2f\n' "$s" "$a" "$b" "$(echo "$b / $a" | bc -l)"
done
a=$(echo "${T[as_root,runtrue]}" | median)
b=$(echo "${T[as_user,runtrue]}" | median)
printf 'RUN true rootless overhead: %.1f ms per step (%.1f ms rootless, %.1f ms root)\n' \
	"$(echo "($b - $a) * 1000" | bc -l)" "$(echo "$b * 1000" | bc -l)" "$(echo "$a * 1000" | bc -l)"
echo "(median wall seconds of $RUNS runs each, alternating; load: $(cut -d' ' -f1-3 /proc/loadavg))"
