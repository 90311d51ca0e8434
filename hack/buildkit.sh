#!/usr/bin/env bash
# buildkit.sh installs the pinned BuildKit (buildkitd and buildctl), the
# reference builder of the conformance suite (testdata/conformance), into a
# cache directory outside the repository and prints that bin directory.
#
#   hack/buildkit.sh            # prints e.g. /var/cache/ibuild-peers/buildkit-v0.17.3/bin
#
# The binaries are built from source through the Go module proxy
# (`go install github.com/moby/buildkit/cmd/...@VERSION`, a few minutes on two
# cores) only when they are missing or report another version, so a machine
# builds them once. A flock lets concurrent callers wait for each other; the
# binaries are built into a temporary directory and renamed into place.
#
# Environment:
#   IBUILD_BUILDKIT_VERSION   version to install (default v0.17.3, the pinned reference)
#   IBUILD_PEERS              cache directory (default /var/cache/ibuild-peers)
set -euo pipefail

VERSION=${IBUILD_BUILDKIT_VERSION:-v0.17.3}
PEERS=${IBUILD_PEERS:-/var/cache/ibuild-peers}
DIR=$PEERS/buildkit-$VERSION
BIN=$DIR/bin
export PATH=/usr/local/go/bin:$PATH

log() { printf 'buildkit.sh: %s\n' "$*" >&2; }

# modversion BINARY prints the github.com/moby/buildkit module version a Go
# binary was built from (`go install` leaves `--version` at v0.0.0+unknown).
modversion() {
	go version -m "$1" 2>/dev/null | awk '$1 == "mod" && $2 == "github.com/moby/buildkit" { print $3 }'
}

# installed succeeds when both binaries exist and were built from $VERSION.
installed() {
	local b
	for b in buildkitd buildctl; do
		[[ -x $BIN/$b && $(modversion "$BIN/$b") == "$VERSION" ]] || return 1
	done
}

main() {
	if installed; then
		echo "$BIN"
		return 0
	fi
	mkdir -p "$DIR"
	exec 9>"$DIR/.lock"
	if ! flock -n 9; then
		log "waiting for another buildkit.sh"
		flock 9
	fi
	if installed; then
		echo "$BIN"
		return 0
	fi
	command -v go >/dev/null || { log "error: go not found"; exit 1; }
	local tmp start
	tmp=$(mktemp -d "$DIR/.bin.XXXXXX")
	chmod 0755 "$tmp"
	# shellcheck disable=SC2064
	trap "rm -rf -- '$tmp'" EXIT
	start=$(date +%s)
	log "building buildkitd and buildctl $VERSION from the Go module proxy (a few minutes)"
	GOBIN=$tmp CGO_ENABLED=0 go install \
		"github.com/moby/buildkit/cmd/buildkitd@$VERSION" \
		"github.com/moby/buildkit/cmd/buildctl@$VERSION" >&2
	rm -rf -- "$BIN.old"
	[[ -d $BIN ]] && mv -- "$BIN" "$BIN.old"
	mv -- "$tmp" "$BIN"
	rm -rf -- "$BIN.old"
	trap - EXIT
	installed || { log "error: $BIN does not report $VERSION"; exit 1; }
	log "installed in $BIN ($(($(date +%s) - start))s)"
	echo "$BIN"
}

main "$@"
exit
