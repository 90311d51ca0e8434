#!/usr/bin/env bash
# compare.sh is `make demo`: it builds this app on Alpine and on Debian with
# `ibuild compare` and prints the report, which opens with the answer (which
# image is smaller, by how much) and the suggestions.
#
#   examples/demo/compare.sh IBUILD OUTDIR
#
# Bases, imported into $DEMO_ROOT (a store of its own):
#   alpine:3.20.3    the Alpine mini root filesystem in ../shared/testdata/alpine
#                    (see its README); without it, busybox (Debian's
#                    busybox-static, hack/testbases.sh) stands in, and the
#                    demo says so
#   debian:bookworm  debootstrap --variant=minbase (hack/testbases.sh)
# DEMO_ALPINE names another Alpine rootfs tarball; DEMO_ROOT the store.
set -euo pipefail

IBUILD=${1:?usage: compare.sh IBUILD OUTDIR}
OUT=${2:?usage: compare.sh IBUILD OUTDIR}
ROOT=${DEMO_ROOT:-/var/tmp/ibuild-demo}
BASES=${IBUILD_TESTBASES:-/var/cache/ibuild-testbases}
HERE=$(cd "$(dirname "$0")" && pwd)
ALPINE=${DEMO_ALPINE:-$HERE/../../../shared/testdata/alpine/alpine-minirootfs-3.20.3-$(uname -m).tar.gz}

mkdir -p "$OUT" "$ROOT"
ib() { "$IBUILD" --root "$ROOT" "$@"; }

# base TAG FILE [IMPORT FLAGS] imports FILE as TAG unless this very file
# (size and mtime) was imported already.
base() {
	local tag=$1 file=$2 stamp
	shift 2
	stamp="$ROOT/demo-base-${tag//[:\/]/_}"
	if [[ $(cat "$stamp" 2>/dev/null) != "$(stat -c '%n %s %Y' "$file")" ]]; then
		ib import -t "$tag" "$@" "$file" >/dev/null
		stat -c '%n %s %Y' "$file" >"$stamp"
	fi
}

if [[ -f $ALPINE ]]; then
	small=alpine:3.20.3
	base "$small" "$ALPINE" --change 'CMD ["/bin/sh"]'
else
	small=busybox:demo
	echo "demo: no Alpine mini root filesystem at $ALPINE;"
	echo "demo: busybox (from Debian's busybox-static) stands in for Alpine."
	base "$small" "$BASES/busybox.tar"
fi
base debian:bookworm "$BASES/debian-bookworm-minbase.tar"

# One build per base (cached after the first run); the build output goes to
# a log, shown only when a build fails.
compare() {
	if ! ib compare --progress plain --base-arg BASE --base "$small" --base debian:bookworm "$@" "$HERE" 2>"$OUT/build.log"; then
		cat "$OUT/build.log" >&2
		return 1
	fi
}
compare --format json -o "$OUT/report.json"
compare --format html -o "$OUT/report.html"
echo "\$ ibuild compare --base-arg BASE --base $small --base debian:bookworm examples/demo"
compare
echo
echo "Also written: $OUT/report.html (open it in a browser) and $OUT/report.json"
