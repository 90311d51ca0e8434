#!/usr/bin/env bash
# gotest.sh runs `go test ARGS...`, keeps the whole output in $GOTEST_LOG
# (default bin/test.log), and ends with a short summary (failed packages and
# tests, skip count) so that the outcome is visible at the bottom of a long
# CI log. It exits with go test's status.
#
#   hack/gotest.sh -count=1 -timeout 25m ./...
set -uo pipefail

root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
log=${GOTEST_LOG:-$root/bin/test.log}
mkdir -p "$(dirname "$log")"

start=$(date +%s)
echo "+ go test $*"
go test "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

echo
echo "==== go test summary ($(($(date +%s) - start))s, full log: $log) ===="
ok=$(grep -cE '^ok[[:space:]]' "$log")
notest=$(grep -cE '^\?[[:space:]].*\[no test files\]' "$log")
echo "packages ok: $ok, without tests: $notest"
if grep -qE '^(FAIL|--- FAIL|panic:)|\[build failed\]|\[setup failed\]' "$log"; then
	echo "failures:"
	grep -E '^(FAIL|[[:space:]]*--- FAIL|panic:)|\[build failed\]|\[setup failed\]' "$log" | grep -vE '^FAIL$' | sed 's/^/  /'
fi
echo "go test exit status: $status"
exit "$status"
