#!/usr/bin/env bash
# fuzz.sh runs every native Go fuzzer in the repository for a while.
#
#   hack/fuzz.sh [FUZZTIME]      (default 10s; `make fuzz-long` passes 10m)
#   hack/fuzz.sh --list          print the targets found, as "DIR NAME"
#
# Targets are found by grepping `func FuzzXxx(` in *_test.go files, so new
# fuzzers are picked up without editing anything. `go test -fuzz` takes one
# target in one package at a time, hence the loop. A crasher is written by go
# test to PKG/testdata/fuzz/FuzzXxx/ and the script fails at the end; copy
# it into a regression test (see testdata/README.md) once fixed.
#
# FUZZMINIMIZETIME (default 5s) bounds how long go test minimises each new
# "interesting" input. The default of 60s made extraction fuzzers look
# stalled: every new coverage-increasing tar was minimised with thousands
# of extractions while the exec counter stood still.
set -euo pipefail

fuzztime=${1:-10s}
minimize=${FUZZMINIMIZETIME:-5s}
root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$root"

# targets: "DIR NAME" lines, e.g. "parser FuzzParse".
targets=()
while IFS=: read -r file match; do
	dir=$(dirname "${file#./}")
	case /$dir/ in */testdata/* | */vendor/*) continue ;; esac
	name=${match#func }
	targets+=("$dir ${name%(}")
done < <(grep -rEo --include='*_test.go' '^func Fuzz[A-Za-z0-9_]*\(' . | LC_ALL=C sort -u)

if [[ $fuzztime == --list ]]; then
	((${#targets[@]} == 0)) || printf '%s\n' "${targets[@]}"
	exit 0
fi
if ((${#targets[@]} == 0)); then
	echo "fuzz: no fuzz targets found"
	exit 0
fi
log=$(mktemp)
trap 'rm -f "$log"' EXIT

# run_one fuzzes one target, teeing its output to $log.
run_one() {
	go test -run='^$' -fuzz="^${2}\$" -fuzztime="$fuzztime" -fuzzminimizetime="$minimize" "./$1" 2>&1 | tee "$log"
	return "${PIPESTATUS[0]}"
}

# deadline_flake reports whether a failed run is Go's fuzztime race
# (go.dev/issue/75804, go1.26 and earlier): the coordinator's own deadline
# surfaces as "context deadline exceeded" at fuzztime+epsilon. A real finding
# always prints "Failing input written to" (or a panic or t.Error line with
# the input), so any of those makes it a real failure.
deadline_flake() {
	grep -q '^    context deadline exceeded$' "$1" &&
		! grep -qE 'Failing input written to|panic:|_test\.go:[0-9]+:' "$1"
}

echo "fuzz: ${#targets[@]} targets, $fuzztime each"
failed=()
for t in "${targets[@]}"; do
	read -r dir name <<<"$t"
	echo "fuzz: ./$dir $name"
	for attempt in 1 2; do
		if run_one "$dir" "$name"; then
			break
		fi
		if ! deadline_flake "$log"; then
			failed+=("./$dir $name")
			break
		fi
		if ((attempt == 2)); then
			echo "fuzz: $name hit the Go fuzz coordinator's deadline race twice (go.dev/issue/75804, fixed in Go 1.27);"
			echo "fuzz: no failing input was written, so it counts as passed"
			break
		fi
		echo "fuzz: $name stopped with a bare 'context deadline exceeded' and no failing input:"
		echo "fuzz: the Go fuzz coordinator's deadline race (go.dev/issue/75804, fixed in Go 1.27); running it again"
	done
done
if ((${#failed[@]})); then
	printf 'fuzz: FAILED %s\n' "${failed[@]}"
	exit 1
fi
echo "fuzz: all ${#targets[@]} targets passed"
