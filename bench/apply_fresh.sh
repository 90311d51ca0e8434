#!/usr/bin/env bash
# Base extraction (issue 12 item 1): ApplySnapshot of a gzip layer into a
# new, empty directory plus syncfs, next to GNU `tar -xzf` of the same
# layer plus syncfs, in one run, with peak RSS (GNU time -v).
#
#   bench/apply_fresh.sh [WORKDIR]      # default /var/tmp/ibuild-bench (on disk, not tmpfs)
#   N=5 bench/apply_fresh.sh            # extractions per figure (default 3)
#   LOOPFS=0 bench/apply_fresh.sh       # extract into WORKDIR itself
#
# Layers: the Debian minbase base of hack/testbases.sh (skipped with a
# reason if absent) and a 1 GiB synthetic layer, both gzipped once into
# WORKDIR and kept. Rows: fast (ApplySnapshot into an empty directory, the
# path cache.Store.Snapshot takes), careful (umoci's extractor, the path
# for layers applied onto existing content) and gnutar (GNU tar -xzf, run
# by the benchmark). MB/s counts uncompressed tar bytes. Every row carries
# the one-minute load average when it ended: figures taken on a shared
# machine are only comparable within one run. Needs root.
#
# The trees go to a fresh journaled ext4 on a loop device (WORKDIR/fs.img,
# 8 GiB sparse), as on a CI runner's disk: this VM's root file system is an
# ext4 without a journal, where every inode created after mass deletions
# (other builds', and each round's own cleanup) is found by a scan that
# skips recently deleted inodes (perf: find_inode_bit/recently_deleted,
# over half of a create's time), which measures the neighbours.
set -euo pipefail
cd "$(dirname "$0")/.."
work=${1:-/var/tmp/ibuild-bench}
N=${N:-3}
mkdir -p "$work"
trees=$work
if [[ ${LOOPFS:-1} == 1 ]]; then
	trees=$work/mnt
	truncate -s 8G "$work/fs.img"
	mkfs.ext4 -q -F "$work/fs.img"
	dev=$(losetup -f --show --direct-io=on "$work/fs.img")
	mkdir -p "$trees"
	mount "$dev" "$trees"
	trap 'umount "$trees"; losetup -d "$dev"; rm -f "$work/fs.img"' EXIT
fi
go test -c -o "$work/layer.test" ./layer
echo "# $(date -u +%FT%TZ) $(nproc) cores, load $(cut -d' ' -f1-3 /proc/loadavg), trees on $(df --output=source,fstype "$trees" | tail -1)"
printf '%-44s %14s %10s %8s %8s %14s\n' benchmark ns/op MB/s ms-sync load1 "peak RSS MiB"
for layer in debian-minbase synthetic-1g; do
	for m in fast careful gnutar; do
		out=$("/usr/bin/time" -v -o "$work/time.txt" "$work/layer.test" -test.run '^$' \
			-test.bench "BenchmarkApplyFresh/$layer/$m\$" -test.benchtime "${N}x" \
			-applyfresh.dir "$work" -applyfresh.trees "$trees")
		if grep -q -- '--- SKIP' <<<"$out"; then
			grep -A1 -- '--- SKIP' <<<"$out" | tail -1
			continue 2
		fi
		rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/time.txt")
		# For gnutar the RSS is the test binary's: tar's own is measured below.
		[[ $m == gnutar ]] && rss="-"
		awk -v rss="$rss" '/^Benchmark/ {printf "%-44s %14s %10s %8s %8s %14s\n", $1, $3, $5, $9, $7, rss}' <<<"$out"
	done
	gz="$work/ibuild-applyfresh-$layer.tar.gz"
	dir=$(mktemp -d "$trees/ibuild-applyfresh-tar-XXXXXX")
	sync
	start=$(date +%s%N)
	/usr/bin/time -v -o "$work/time.txt" tar -xzf "$gz" -C "$dir"
	sync -f "$dir"
	ms=$((($(date +%s%N) - start) / 1000000))
	rss=$(awk -F': ' '/Maximum resident/ {printf "%.0f", $2/1024}' "$work/time.txt")
	printf '%-44s %14s %10s %8s %8s %14s\n' "gnu tar -xzf $layer, once, + sync -f" "${ms}ms" - - \
		"$(cut -d' ' -f1 /proc/loadavg)" "$rss"
	rm -rf "$dir"
done
