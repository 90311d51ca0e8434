#!/usr/bin/env bash
# Diff + compress of a RUN that writes 1 GiB of mixed files, next to
# `tar -c | pigz` (and `tar -c | zstd -T0`) over the same files.
#
#   bench/run_diff.sh            # builds bin/ibuild; needs root, pigz, zstd, GNU time, the busybox test base
#   REPS=5 ENGINES="builtin oci" COMPRESSIONS="gzip zstd" bench/run_diff.sh
#
# The data (generated once into $DATA, default /var/tmp/ibuild-bench-diff-data,
# with a fixed seed): 16,000 text files of 1-15 KiB, 4,000 random files of
# 16 KiB, 4 text files and 4 random files of 100 MiB — 1 GiB in all, about
# half of it compressible. The RUN copies it from a bind mount of the
# context; ibuild logs "diff+compress (C): N bytes (M compressed) in T",
# measured from the end of the command to the layer being stored. Peak RSS
# is that of the whole ibuild process (GNU time %M). Medians of $REPS runs.
set -euo pipefail
cd "$(dirname "$0")/.."
go build -o bin/ibuild ./cmd/ibuild
IB=$PWD/bin/ibuild
BASE_TAR=${IBUILD_TESTBASES:-/var/cache/ibuild-testbases}/busybox.tar
REPS=${REPS:-3}
ENGINES=${ENGINES:-"builtin oci"}
COMPRESSIONS=${COMPRESSIONS:-"gzip zstd"}
DATA=${DATA:-/var/tmp/ibuild-bench-diff-data}
work=$(mktemp -d /var/tmp/ibuild-bench-diff.XXXXXX)
trap 'rm -rf "$work"' EXIT

if [ ! -f "$DATA/.complete" ]; then
	rm -rf "$DATA"
	mkdir -p "$DATA/data"
	python3 - "$DATA/data" <<'PY'
import os, random, sys
root = sys.argv[1]
rnd = random.Random(42)
words = ["".join(rnd.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rnd.randint(2, 10))) for _ in range(5000)]
pool = " ".join(rnd.choices(words, k=3_000_000)).encode()  # ~18 MB of distinct text
def text(n):
    out = bytearray()
    while len(out) < n:
        i = rnd.randrange(0, len(pool) - 65536)
        out += pool[i:i + 65536]
    return bytes(out[:n])
for d in range(100):
    os.makedirs(f"{root}/small/{d:03}")
for i in range(16000):
    with open(f"{root}/small/{i % 100:03}/t{i}.txt", "wb") as f:
        f.write(text(rnd.randint(1024, 15 * 1024)))
for i in range(4000):
    with open(f"{root}/small/{i % 100:03}/r{i}.bin", "wb") as f:
        f.write(os.urandom(16 * 1024))
for i in range(4):
    with open(f"{root}/big-text-{i}.txt", "wb") as f:
        for _ in range(100):
            f.write(text(1 << 20))
    with open(f"{root}/big-random-{i}.bin", "wb") as f:
        for _ in range(100):
            f.write(os.urandom(1 << 20))
PY
	touch "$DATA/.complete"
fi
bytes=$(du -sb "$DATA/data" | cut -f1)

"$IB" --root "$work/root" import -t busybox "$BASE_TAR" >/dev/null
cat > "$DATA/Dockerfile" <<'DF'
FROM busybox
RUN --mount=type=bind,target=/src cp -a /src/data /data
DF
cat > "$DATA/.dockerignore" <<'DI'
.complete
DI

median() { sort -g | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
mibps() { awk -v b="$1" -v s="$2" 'BEGIN {printf "%.0f", b / 1048576 / s}'; }

# settle writes back what the previous run left dirty (about 2.6 GB per
# ibuild run: the RUN's upper directory, the layer blob, the context copy)
# and waits (at most 30 s) for the disk to go quiet (PSI io "some" avg10
# under 5 %, where the kernel reports it), so that one run's writeback and
# discards do not land in the next run's measured window: on this VM a run
# that started on a busy disk took up to 50 % longer.
settle() {
	sync
	local i
	for i in $(seq 30); do
		[ -r /proc/pressure/io ] || return 0
		awk '/^some/ {split($2, a, "="); exit !(a[2] < 5)}' /proc/pressure/io && return 0
		sleep 1
	done
}

run_ref() { # run_ref NAME CMD...: appends the seconds of tar -c | CMD to $work/NAME
	local name=$1; shift
	settle
	/usr/bin/time -f %e -o "$work/t" sh -c "tar -c -C '$DATA' data | $* > /dev/null"
	cat "$work/t" >> "$work/$name.secs"
}

run_ibuild() { # run_ibuild ENGINE COMPRESSION: appends seconds and peak RSS
	local eng=$1 comp=$2 engargs=(--isolation "$1")
	[ "$eng" = oci ] && engargs+=(--runtime "$(command -v runc)")
	settle
	/usr/bin/time -f %M -o "$work/rss1" "$IB" --root "$work/root" --progress plain --no-cache \
		--compression "$comp" "${engargs[@]}" "$DATA" > "$work/out" 2>&1 || { cat "$work/out"; exit 1; }
	local line
	line=$(grep -o 'diff+compress ([a-z]*): [0-9]* bytes ([0-9]* compressed) in [0-9.]*[mµ]*s' "$work/out" | tail -1)
	echo "$line" | awk '{t=$NF; if (t ~ /ms$/) {sub(/ms$/,"",t); t/=1000} else if (t ~ /µs$/) {sub(/µs$/,"",t); t/=1e6} else {sub(/s$/,"",t)} print t}' >> "$work/$eng-$comp.secs"
	echo "$line" | sed 's/.*bytes (\([0-9]*\) compressed).*/\1/' > "$work/$eng-$comp.size"
	echo $(( $(cat "$work/rss1") / 1024 )) >> "$work/$eng-$comp.rss"
}

uptime
echo "data: $bytes bytes"
# Alternate the references and every ibuild configuration in each round,
# so that load changes on a shared machine hit all of them alike.
for _ in $(seq "$REPS"); do
	run_ref pigz pigz
	run_ref zstd zstd -q -T0 -3
	for eng in $ENGINES; do
		for comp in $COMPRESSIONS; do
			run_ibuild "$eng" "$comp"
		done
	done
done
pigz_s=$(median < "$work/pigz.secs")
zstd_s=$(median < "$work/zstd.secs")
printf '%-28s %8s %10s\n' "reference" "seconds" "MiB/s"
printf '%-28s %8s %10s\n' "tar -c | pigz" "$pigz_s" "$(mibps "$bytes" "$pigz_s")"
printf '%-28s %8s %10s\n' "tar -c | zstd -T0 -3" "$zstd_s" "$(mibps "$bytes" "$zstd_s")"
echo
printf '%-10s %-6s %10s %10s %12s %12s %14s\n' engine comp seconds MiB/s "vs pigz" "layer MiB" "peak RSS MiB"
for eng in $ENGINES; do
	for comp in $COMPRESSIONS; do
		s=$(median < "$work/$eng-$comp.secs")
		printf '%-10s %-6s %10s %10s %11s%% %12s %14s\n' "$eng" "$comp" "$s" "$(mibps "$bytes" "$s")" \
			"$(awk -v a="$pigz_s" -v b="$s" 'BEGIN {printf "%.0f", 100 * a / b}')" \
			"$(awk -v b="$(cat "$work/$eng-$comp.size")" 'BEGIN {printf "%.0f", b / 1048576}')" "$(sort -g "$work/$eng-$comp.rss" | tail -1)"
	done
done
