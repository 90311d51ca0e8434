#!/usr/bin/env bash
# bench/multiplatform.sh: a two-platform (linux/amd64 + linux/arm64) build of
# the Alpine test Dockerfile (issue 14) by ibuild and by BuildKit v0.17.3
# (buildkitd + buildctl, OCI worker), --no-cache, type=oci output,
# alternating, RUNS rounds. Prints each wall time, the time of the emulated
# (arm64, under QEMU) RUN steps of each build, the medians and the load
# average: figures taken while other work runs on the machine are labelled
# by that load.
#
# Usage (as root): bench/multiplatform.sh [WORKDIR]
# The base is Alpine 3.20.3's two mini root filesystems
# (../shared/testdata/alpine), imported as one two-platform image, given to
# BuildKit as an OCI-layout named context. BUILDKIT_BIN (default:
# /var/cache/ibuild-peers/buildkit-v0.17.3/bin, else /var/tmp/peer/bin) holds
# buildkitd and buildctl; without them only ibuild is measured. The private
# buildkitd is stopped by its PID at the end. If no arm64 emulator is
# registered, `ibuild binfmt --install` registers QEMU's, and the script
# removes what it registered (and unmounts binfmt_misc if it mounted it).
set -euo pipefail
cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
W=${1:-$(mktemp -d /var/tmp/ibuild-multiplatform.XXXXXX)}
ALPINE=${IBUILD_ALPINE:-../shared/testdata/alpine}
BIN=$W/ibuild
export PATH=/usr/local/go/bin:$PATH
go build -o "$BIN" ./cmd/ibuild
BK=${BUILDKIT_BIN:-/var/cache/ibuild-peers/buildkit-v0.17.3/bin}
[ -x "$BK/buildkitd" ] || BK=/var/tmp/peer/bin

BFM=/proc/sys/fs/binfmt_misc
mounted_here=0
registered_here=()
BKPID=
cleanup() {
	[ -n "$BKPID" ] && { kill "$BKPID" 2>/dev/null; wait "$BKPID" 2>/dev/null || true; }
	for h in "${registered_here[@]}"; do echo -1 >"$BFM/$h" 2>/dev/null || true; done
	[ "$mounted_here" = 1 ] && umount "$BFM" 2>/dev/null || true
}
trap cleanup EXIT
[ -e "$BFM/status" ] || mounted_here=1
if [ ! -e "$BFM/qemu-aarch64" ]; then
	mapfile -t registered_here < <("$BIN" binfmt --install | awk '$1 == "registered" { print $2 }')
fi

ROOT=$W/ibuild-root CTX=$W/ctx
rm -rf "$ROOT" "$CTX" "$W/layout" "$W"/out-*
mkdir -p "$CTX"
"$BIN" --root "$ROOT" import --platform linux/amd64,linux/arm64 -t alpine \
	--change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' --change 'CMD ["/bin/sh"]' \
	"$ALPINE/alpine-minirootfs-3.20.3-x86_64.tar.gz" "$ALPINE/alpine-minirootfs-3.20.3-aarch64.tar.gz" >/dev/null
head -c 1000000 /dev/urandom >"$CTX/data"
cat >"$CTX/Dockerfile" <<'DF'
FROM alpine
ARG TARGETPLATFORM
RUN uname -m > /arch && echo "$TARGETPLATFORM" > /target
RUN for i in $(seq 1 2000); do echo $i; done | sort -rn > /nums && ls -lR /usr /lib > /listing && sha256sum /bin/busybox /lib/*.so* > /sums
COPY data /data
RUN wc -c /data > /size && gzip -c /data > /data.gz
DF

now() { date +%s.%N; }
time_cmd() {
	local s e
	s=$(now)
	"$@" >"$W/last.log" 2>&1 || { echo "failed: $*" >&2; cat "$W/last.log" >&2; exit 1; }
	e=$(now)
	echo "$e - $s" | bc -l
}
P=linux/amd64,linux/arm64
ib() {
	rm -rf "$W/out-ib"
	"$BIN" --root "$ROOT" build --no-cache --platform "$P" --metadata-file "$W/ib-meta.json" \
		-o "type=oci,dest=$W/out-ib" "$CTX"
}
# ib_emulated: seconds the arm64 RUN steps of the last ibuild build took,
# all of them and those after the first (whose time includes waiting for
# the base's extraction, which BuildKit times in its FROM vertex).
ib_emulated() {
	python3 -c 'import json,sys
s=json.load(open(sys.argv[1]))["ibuild.steps"]
d=[x["duration"]/1e9 for x in s if x.get("platform")=="linux/arm64" and x["instruction"].startswith("RUN") and not x["cached"]]
print("%.2f/%.2f" % (sum(d), sum(d[1:])))' "$W/ib-meta.json"
}

builders="ib"
if [ -x "$BK/buildkitd" ] && [ -x "$BK/buildctl" ]; then
	mkdir -p "$W/alpctx"
	echo 'FROM alpine' >"$W/alpctx/Dockerfile"
	"$BIN" --root "$ROOT" build --platform "$P" -o "type=oci,dest=$W/layout" "$W/alpctx" >/dev/null 2>&1
	DIGEST=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifests"][0]["digest"])' "$W/layout/index.json")
	mkdir -p "$W/bk"
	setsid "$BK/buildkitd" --root "$W/bk/state" --addr "unix://$W/bk/buildkitd.sock" \
		--oci-worker=true --containerd-worker=false --oci-worker-net=host >"$W/bk/buildkitd.log" 2>&1 &
	BKPID=$!
	for _ in $(seq 100); do "$BK/buildctl" --addr "unix://$W/bk/buildkitd.sock" debug workers >/dev/null 2>&1 && break; sleep 0.2; done
	bk() {
		"$BK/buildctl" --addr "unix://$W/bk/buildkitd.sock" build --frontend dockerfile.v0 --progress rawjson \
			--local context="$CTX" --local dockerfile="$CTX" --no-cache --opt platform="$P" \
			--oci-layout "alp=$W/layout" --opt "context:alpine=oci-layout://alp@$DIGEST" \
			--output "type=oci,dest=$W/bk-out.tar"
	}
	# bk_emulated: seconds the [linux/arm64 ...] RUN vertices of the last
	# BuildKit build took (from its raw JSON progress).
	bk_emulated() {
		python3 -c 'import json,sys
from datetime import datetime
def ts(s): return datetime.fromisoformat(s[:26].rstrip("Z") if "." in s else s.rstrip("Z"))
v={}
for line in open(sys.argv[1]):
    line=line.strip()
    if not line.startswith("{"): continue
    for x in json.loads(line).get("vertexes") or []:
        n=x.get("name","")
        if n.startswith("[linux/arm64") and "RUN" in n and x.get("started") and x.get("completed"):
            v[n]=(ts(x["completed"])-ts(x["started"])).total_seconds()
d=[v[k] for k in sorted(v, key=lambda n: int(n.split()[1].split("/")[0]))]
print("%.2f/%.2f" % (sum(d), sum(d[1:])))' "$W/last.log"
	}
	bk >/dev/null 2>&1 || { echo "buildkit warm-up build failed; see $W/bk/buildkitd.log" >&2; exit 1; }
	builders="ib bk"
fi

declare -A T E L
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
for r in $(seq 1 "$RUNS"); do
	for b in $builders; do
		t=$(time_cmd $b)
		e=$(${b}_emulated)
		T[$b]+="$t "
		E[$b]+="${e%/*} "
		L[$b]+="${e#*/} "
		printf 'round %d %-3s %.2f s, emulated arm64 RUN steps %s s (all/after the first) (load %s)\n' "$r" "$b" "$t" "$e" "$(cut -d' ' -f1 /proc/loadavg)"
	done
done
median() { tr ' ' '\n' | grep -v '^$' | sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
for b in $builders; do
	case $b in
	ib) name="ibuild" ;;
	bk) name="BuildKit v0.17.3" ;;
	esac
	printf '%-18s median %.2f s (%s); emulated RUN median %.2f s (%s); after the first RUN %.2f s (%s)\n' "$name" \
		"$(echo "${T[$b]}" | median)" "${T[$b]}" "$(echo "${E[$b]}" | median)" "${E[$b]}" "$(echo "${L[$b]}" | median)" "${L[$b]}"
done
echo "load after: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
