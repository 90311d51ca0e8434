#!/usr/bin/env bash
# install-deps.sh installs the Debian packages listed in hack/apt-packages.txt.
#
#   hack/install-deps.sh [--update]
#
# Idempotent and quick when everything is present: it asks dpkg first and runs
# apt-get (update + install) only for what is missing. --update always runs
# apt-get update and installs the whole list (what .ci/run does).
# Needs root to install; without root it only reports what is missing.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
list=$here/apt-packages.txt
always=0
case ${1:-} in
--update) always=1 ;;
"") ;;
*) echo "usage: $0 [--update]" >&2; exit 2 ;;
esac

mapfile -t pkgs < <(sed -e 's/#.*//' -e 's/[[:space:]]//g' -e '/^$/d' "$list")
((${#pkgs[@]})) || { echo "install-deps: $list lists no packages" >&2; exit 1; }

missing=()
for p in "${pkgs[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed'; then
		missing+=("$p")
	fi
done

if ((always == 0 && ${#missing[@]} == 0)); then
	echo "install-deps: all ${#pkgs[@]} packages present"
	exit 0
fi
if [[ $(id -u) != 0 ]]; then
	echo "install-deps: missing packages: ${missing[*]}; run as root: apt-get install ${missing[*]}" >&2
	exit 1
fi

export DEBIAN_FRONTEND=noninteractive
# retry: apt-get update is the one step here that depends on the network.
retry() {
	local n
	for n in 1 2 3; do
		"$@" && return 0
		echo "install-deps: '$*' failed (attempt $n), retrying" >&2
		sleep $((n * 5))
	done
	"$@"
}
if ((always)); then
	install=("${pkgs[@]}")
else
	install=("${missing[@]}")
	echo "install-deps: installing ${missing[*]}"
fi
retry apt-get update -qq
retry apt-get install -y -qq --no-install-recommends "${install[@]}"
echo "install-deps: done"
