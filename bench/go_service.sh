#!/usr/bin/env bash
# bench/go_service.sh: where a fresh runner waits on a multi-stage Go
# service (issue 12 item 5). A Debian minbase stage installs golang-go with
# apt-get from the Debian mirror (the host's, from
# /etc/apt/sources.list.d/debian.sources), runs `go mod download` through
# the Go module proxy (three small modules), builds, and a busybox stage
# copies the binary. Both bases come from a registry on 127.0.0.1; ibuild
# runs on an empty --root. Prints each step's time from --progress plain
# and writes a CPU profile (IBUILD_CPUPROFILE) to WORKDIR/cpu.pprof.
# With BK=1 BuildKit v0.17.3 (empty state) builds the same once afterwards.
#
# The host's extra certificate authorities (/usr/local/share/ca-certificates)
# are copied into the build stage's store. Usage (as root):
# bench/go_service.sh [WORKDIR]. It downloads about 70 MB
# of .debs and the modules from the internet on every run.
set -euo pipefail
cd "$(dirname "$0")/.."
W=${1:-$(mktemp -d /var/tmp/ibuild-gosvc.XXXXXX)}
BASES=${IBUILD_TESTBASES:-/var/cache/ibuild-testbases}
export PATH=/usr/local/go/bin:$PATH
mkdir -p "$W"
BIN=$W/ibuild
go build -o "$BIN" ./cmd/ibuild
hack/testbases.sh debian busybox >/dev/null

regpid= bkpid=
cleanup() {
	[ -n "$bkpid" ] && kill "$bkpid" 2>/dev/null
	[ -n "$regpid" ] && kill "$regpid" 2>/dev/null
	wait 2>/dev/null || true
}
trap cleanup EXIT
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
reg=127.0.0.1:$port
rm -rf "$W/regdata" "$W/seed"
cat >"$W/reg.yml" <<YML
version: 0.1
log: {level: error, accesslog: {disabled: true}}
storage: {filesystem: {rootdirectory: $W/regdata}}
http: {addr: $reg}
YML
/usr/bin/docker-registry serve "$W/reg.yml" >"$W/reg.log" 2>&1 &
regpid=$!
for _ in $(seq 100); do curl -fs "http://$reg/v2/" >/dev/null && break; sleep 0.1; done
"$BIN" --root "$W/seed" import -t debian "$BASES/debian-bookworm-minbase.tar" >/dev/null
"$BIN" --root "$W/seed" import -t busybox "$BASES/busybox.tar" >/dev/null
"$BIN" --root "$W/seed" push debian "$reg/base/debian:bookworm" >/dev/null 2>&1
"$BIN" --root "$W/seed" push busybox "$reg/base/busybox:1" >/dev/null 2>&1
rm -rf "$W/seed"

CTX=$W/ctx
rm -rf "$CTX"
mkdir -p "$CTX"
cat >"$CTX/main.go" <<'EOF'
package main

import (
	"fmt"
	"net/http"

	"github.com/google/uuid"
	"github.com/gorilla/mux"
	"github.com/spf13/pflag"
)

func main() {
	addr := pflag.String("addr", ":8080", "listen address")
	pflag.Parse()
	r := mux.NewRouter()
	r.HandleFunc("/id", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, uuid.NewString()) })
	fmt.Println("listening on", *addr)
	_ = http.ListenAndServe(*addr, r)
}
EOF
cat >"$CTX/go.mod" <<'EOF'
module example.com/svc

go 1.19

require (
	github.com/google/uuid v1.6.0
	github.com/gorilla/mux v1.8.1
	github.com/spf13/pflag v1.0.5
)
EOF
cat >"$CTX/go.sum" <<'EOF'
github.com/google/uuid v1.6.0 h1:NIvaJDMOsjHA8n1jAhLSgzrAzy1Hgr+hNrb57e+94F0=
github.com/google/uuid v1.6.0/go.mod h1:TIyPZe4MgqvfeYDBFedMoGGpEw/LqOeaOT+nhxU+yHo=
github.com/gorilla/mux v1.8.1 h1:TuBL49tXwgrFYWhqrNgrUNEY92u81SPhu7sTdzQEiWY=
github.com/gorilla/mux v1.8.1/go.mod h1:AKf9I4AEqPTmMytcMc0KkNouC66V3BtZ4qD5fmWSiMQ=
github.com/spf13/pflag v1.0.5 h1:iy+VFUOCP1a+8yFto/drg2CJ5u0yRoB7fZw3DKv/JXA=
github.com/spf13/pflag v1.0.5/go.mod h1:McXfInJRrz4CZXVZOBLb0bTZqETkiAhM9Iw0y3An2Bg=
EOF
# Certificate authorities the host adds (a TLS-intercepting egress proxy)
# go into the image's store too, or `go mod download` cannot verify the
# module proxy.
mkdir -p "$CTX/extra-ca"
cp /usr/local/share/ca-certificates/*.crt "$CTX/extra-ca/" 2>/dev/null || true
cat >"$CTX/Dockerfile" <<DF
FROM $reg/base/debian:bookworm AS build
COPY extra-ca/ /usr/local/share/ca-certificates/
RUN apt-get update && apt-get install -y --no-install-recommends golang-go ca-certificates && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
RUN CGO_ENABLED=0 go build -trimpath -o /out/svc .
FROM $reg/base/busybox:1
COPY --from=build /out/svc /svc
ENTRYPOINT ["/svc"]
DF

echo "# $(date -u +%FT%TZ), $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg)"
rm -rf "$W/root"
s=$(date +%s.%N)
IBUILD_CPUPROFILE=$W/cpu.pprof "$BIN" --root "$W/root" build --progress plain -t svc:ib "$CTX" >"$W/ib.log" 2>&1 ||
	{ cat "$W/ib.log"; exit 1; }
e=$(date +%s.%N)
grep -E '^#[0-9]+ (\[|DONE|CACHED)' "$W/ib.log" | grep -B1 -E 'DONE|CACHED' | grep -v '^--'
printf 'ibuild, empty --root: %.2f s (load after %s)\n' "$(echo "$e - $s" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"

if [ "${BK:-0}" = 1 ]; then
	BKB=${BUILDKIT_BIN:-$(hack/buildkit.sh)}
	rm -rf "$W/bk"
	mkdir -p "$W/bk"
	printf '[registry."%s"]\n  http = true\n  insecure = true\n' "$reg" >"$W/bk/buildkitd.toml"
	setsid "$BKB/buildkitd" --root "$W/bk/state" --addr "unix://$W/bk/buildkitd.sock" \
		--config "$W/bk/buildkitd.toml" --oci-worker=true --containerd-worker=false \
		--oci-worker-net=host >"$W/bk/buildkitd.log" 2>&1 &
	bkpid=$!
	for _ in $(seq 150); do "$BKB/buildctl" --addr "unix://$W/bk/buildkitd.sock" debug workers >/dev/null 2>&1 && break; sleep 0.2; done
	s=$(date +%s.%N)
	"$BKB/buildctl" --addr "unix://$W/bk/buildkitd.sock" build --progress plain --frontend dockerfile.v0 \
		--local context="$CTX" --local dockerfile="$CTX" --output "type=image,name=docker.io/library/svc:bk" >"$W/bk.log" 2>&1 ||
		{ cat "$W/bk.log"; exit 1; }
	e=$(date +%s.%N)
	grep -E '^#[0-9]+ (\[|DONE|CACHED)' "$W/bk.log" | grep -B1 -E 'DONE|CACHED' | grep -v '^--'
	printf 'BuildKit v0.17.3, empty state: %.2f s (load after %s)\n' "$(echo "$e - $s" | bc -l)" "$(cut -d' ' -f1 /proc/loadavg)"
fi
