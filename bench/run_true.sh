#!/usr/bin/env bash
# Overhead of `RUN true` (sandbox up, run, down) next to the floor of the
# kernel operations it is made of, measured in one run on this machine.
#
#   bench/run_true.sh             # needs root and runc (for the oci rows)
#   N=60 bench/run_true.sh
#
# BenchmarkRunTrue/builtin/image runs /bin/true over an image that has
# /proc, /dev, /sys and the /etc files (as real images do);
# .../stub-layer over one that lacks them, so that a stub layer is made.
# BenchmarkFloor measures, on their own: fork+exec of /bin/true; the same
# in new mount, PID, UTS and IPC namespaces; util-linux
# `unshare -mpfiu --fork true`; re-executing this Go binary up to its
# sandbox init (runtime and package initialisation); an overlay mount and
# unmount; a v1 cgroup mkdir, limits and rmdir. Each row reports the
# median and minimum in ms (ms-median, ms-min).
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-40}
uptime
go test -run XXX -bench 'Floor|RunTrue' -benchtime "${N}x" ./build/sandbox |
	awk '/^Benchmark/ {printf "%-48s %10s %s %10s %s\n", $1, $5, $6, $7, $8}'
