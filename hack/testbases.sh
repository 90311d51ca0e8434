#!/usr/bin/env bash
# testbases.sh builds the base root filesystem tarballs that ibuild's tests
# import instead of pulling from a registry (none is reachable here).
#
#   hack/testbases.sh [--force] [busybox] [debian]
#
# With no names it ensures both. The tarballs live OUTSIDE the repository,
# in $IBUILD_TESTBASES (default /var/cache/ibuild-testbases):
#
#   debian-bookworm-minbase.tar   debootstrap --variant=minbase bookworm
#   busybox.tar                   /bin/busybox from busybox-static + applet symlinks
#   README                        how they were made
#
# Idempotent: a tarball is rebuilt only when it is missing, when its recorded
# recipe (NAME.tar.recipe) differs from the one below, or with --force.
# Each tarball is written to a temporary file in the same directory and renamed
# into place, so a reader never sees a half-written one. A per-base flock lets
# concurrent callers (parallel `go test` binaries) wait for each other.
#
# Environment:
#   IBUILD_TESTBASES       output directory
#   IBUILD_DEBIAN_MIRROR   Debian mirror (default: the one in /etc/apt/sources.list*)
set -euo pipefail

DIR=${IBUILD_TESTBASES:-/var/cache/ibuild-testbases}
SUITE=bookworm
# Bump a recipe version whenever the way that base is built changes.
DEBIAN_RECIPE_VERSION=2
BUSYBOX_RECIPE_VERSION=1
# Fixed mtime for the busybox rootfs so its tarball is byte-for-byte reproducible
# for a given busybox-static package (2024-01-01T00:00:00Z).
BUSYBOX_EPOCH=1704067200

log() { printf 'testbases: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# debian_mirror prints the Debian archive this machine's apt uses for $SUITE,
# falling back to deb.debian.org.
debian_mirror() {
	if [[ -n ${IBUILD_DEBIAN_MIRROR:-} ]]; then
		echo "$IBUILD_DEBIAN_MIRROR"
		return
	fi
	local f uri
	for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
		[[ -r $f ]] || continue
		# one-line style: deb [opts] URI SUITE COMPONENTS
		uri=$(awk -v s="$SUITE" '$1=="deb" { i=2; if ($2 ~ /^\[/) { while ($i !~ /\]$/) i++; i++ }
			if ($(i+1)==s && $i ~ /\/debian\/?$/) { print $i; exit } }' "$f")
		if [[ -n $uri ]]; then echo "${uri%/}"; return; fi
	done
	for f in /etc/apt/sources.list.d/*.sources; do
		[[ -r $f ]] || continue
		# deb822 style: stanzas separated by blank lines
		uri=$(awk -v s="$SUITE" 'BEGIN { RS=""; FS="\n" }
			{ u=""; ok=0; deb=0
			  for (i=1; i<=NF; i++) {
			    if ($i ~ /^URIs:/) { u=$i; sub(/^URIs:[ \t]*/, "", u); sub(/[ \t].*/, "", u) }
			    if ($i ~ /^Types:/ && $i ~ /[ \t]deb([ \t]|$)/) deb=1
			    if ($i ~ /^Suites:/) { n=split($i, a, /[ \t]+/); for (j=2; j<=n; j++) if (a[j]==s) ok=1 }
			  }
			  if (deb && ok && u ~ /\/debian\/?$/) { print u; exit } }' "$f")
		if [[ -n $uri ]]; then echo "${uri%/}"; return; fi
	done
	echo "http://deb.debian.org/debian"
}

# find_busybox prints the path of the static busybox shipped by busybox-static.
find_busybox() {
	local p
	p=$(dpkg -L busybox-static 2>/dev/null | grep -E '/bin/busybox$' | head -n1 || true)
	[[ -n $p && -x $p ]] && { echo "$p"; return; }
	for p in /bin/busybox /usr/bin/busybox; do
		[[ -x $p ]] && { echo "$p"; return; }
	done
	return 1
}

# unmount_under unmounts everything mounted below $1, deepest first, so that a
# following rm -rf can never reach into the host's /proc, /sys or /dev.
unmount_under() {
	local root=$1 m
	[[ -d $root ]] || return 0
	root=$(readlink -f "$root")
	awk -v r="$root/" 'index($2 "/", r)==1 { print $2 }' /proc/self/mounts | sort -r |
		while read -r m; do umount -l "$m" 2>/dev/null || true; done
}

# cleanup_tmp removes a scratch directory made by this script.
cleanup_tmp() {
	local d=$1
	[[ -n $d && -d $d ]] || return 0
	unmount_under "$d"
	rm -rf --one-file-system -- "$d"
}

# up_to_date NAME RECIPE succeeds when $DIR/NAME exists and was built by RECIPE.
up_to_date() {
	[[ $FORCE == 0 && -s $DIR/$1 && -r $DIR/$1.recipe ]] && [[ $(<"$DIR/$1.recipe") == "$2" ]]
}

# publish TMPFILE NAME RECIPE renames a finished tarball into place and records its recipe.
publish() {
	local tmp=$1 name=$2 recipe=$3
	sync -f "$tmp" 2>/dev/null || true
	printf '%s\n' "$recipe" >"$DIR/.$name.recipe.tmp"
	mv -f -- "$tmp" "$DIR/$name"
	mv -f -- "$DIR/.$name.recipe.tmp" "$DIR/$name.recipe"
}

debian_recipe() {
	echo "debian recipe=$DEBIAN_RECIPE_VERSION suite=$SUITE variant=minbase arch=$(dpkg --print-architecture)"
}

build_debian() {
	local name=debian-bookworm-minbase.tar recipe mirror work start
	recipe=$(debian_recipe)
	if up_to_date "$name" "$recipe"; then
		log "$name: up to date ($recipe)"
		return 0
	fi
	command -v debootstrap >/dev/null || die "debootstrap not installed (apt-get install debootstrap)"
	[[ $(id -u) == 0 ]] || die "building $name needs root (debootstrap)"
	mirror=$(debian_mirror)
	work=$(mktemp -d "$DIR/.build-debian.XXXXXX")
	# shellcheck disable=SC2064
	trap "cleanup_tmp '$work'" EXIT
	log "$name: debootstrap --variant=minbase $SUITE from $mirror (takes a few minutes)"
	start=$(date +%s)
	# Downloaded .debs are kept in $DIR/debs so that a recipe change rebuilds
	# without downloading again (debootstrap verifies them against the index).
	mkdir -p "$DIR/debs"
	if ! debootstrap --variant=minbase --cache-dir="$DIR/debs" "$SUITE" "$work/rootfs" "$mirror" \
		>"$work/debootstrap.log" 2>&1; then
		tail -n 30 "$work/debootstrap.log" >&2 || true
		[[ -r $work/rootfs/debootstrap/debootstrap.log ]] && tail -n 30 "$work/rootfs/debootstrap/debootstrap.log" >&2
		die "debootstrap failed (see above)"
	fi
	unmount_under "$work/rootfs"
	# Drop downloaded .debs and apt lists: they are not part of a base image.
	rm -rf --one-file-system "$work/rootfs/var/cache/apt/archives/"*.deb \
		"$work/rootfs/var/lib/apt/lists/"* "$work/rootfs/debootstrap"
	# Like registry base images: an empty /dev (no device nodes, which a
	# rootless extraction could not create anyway) and no host identity
	# (debootstrap copies the host's /etc/hostname and /etc/resolv.conf).
	find "$work/rootfs/dev" -xdev -mindepth 1 -delete
	printf 'localhost\n' >"$work/rootfs/etc/hostname"
	: >"$work/rootfs/etc/resolv.conf"
	chmod 0644 "$work/rootfs/etc/hostname" "$work/rootfs/etc/resolv.conf"
	local took=$(($(date +%s) - start))
	log "$name: debootstrap took ${took}s"
	# Top-level names without a leading "./", like `docker export` writes.
	(cd "$work/rootfs" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort) >"$work/top"
	tar --numeric-owner --xattrs --xattrs-include='*' --sort=name \
		-C "$work/rootfs" -cf "$work/out.tar" -T "$work/top"
	mv -f -- "$work/out.tar" "$DIR/.$name.tmp"
	publish "$DIR/.$name.tmp" "$name" "$recipe"
	printf 'mirror=%s\nbuilt=%s\ndebootstrap_seconds=%s\n' "$mirror" "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$took" \
		>"$DIR/$name.info"
	cleanup_tmp "$work"
	trap - EXIT
	log "$name: built ($(du -h "$DIR/$name" | cut -f1), $(($(date +%s) - start))s total)"
	BUILT+=("$name")
}

busybox_recipe() {
	local v
	v=$(dpkg-query -W -f='${Version}' busybox-static 2>/dev/null || echo unknown)
	echo "busybox recipe=$BUSYBOX_RECIPE_VERSION busybox-static=$v"
}

# make_busybox_rootfs ROOT BUSYBOX lays out the busybox test base in ROOT.
make_busybox_rootfs() {
	local r=$1 bb=$2 applet version
	mkdir -p "$r"/{bin,sbin,etc,root,tmp,home/app,var/tmp,usr/bin,usr/sbin,dev,proc,sys,run}
	install -m 0755 "$bb" "$r/bin/busybox"
	local applets=()
	for applet in $("$bb" --list); do
		[[ $applet == busybox || $applet == */* ]] || applets+=("$applet")
	done
	# One process for ~270 symlinks (perl-base is Essential); forking ln that
	# often takes seconds on a loaded machine.
	if command -v perl >/dev/null; then
		(cd "$r/bin" && perl -e 'for (@ARGV) { symlink("busybox", $_) or die "symlink $_: $!\n" }' "${applets[@]}")
	else
		for applet in "${applets[@]}"; do ln -sfn busybox "$r/bin/$applet"; done
	fi
	version=$("$bb" 2>&1 | head -n1 | awk '{ print $2 }' || true)
	cat >"$r/etc/passwd" <<-'EOF'
		root:x:0:0:root:/root:/bin/sh
		app:x:1000:1000:app:/home/app:/bin/sh
		nobody:x:65534:65534:nobody:/nonexistent:/bin/false
	EOF
	cat >"$r/etc/group" <<-'EOF'
		root:x:0:
		wheel:x:10:root
		app:x:1000:
		extra:x:1001:app
		nogroup:x:65534:
	EOF
	cat >"$r/etc/os-release" <<-EOF
		NAME="BusyBox test base"
		ID=busybox
		VERSION_ID=${version#v}
		PRETTY_NAME="ibuild busybox test base (BusyBox ${version})"
		HOME_URL="https://busybox.net/"
	EOF
	printf 'root\n' >"$r/etc/hostname"
	printf '127.0.0.1\tlocalhost\n::1\tlocalhost\n' >"$r/etc/hosts"
	chmod 0644 "$r"/etc/{passwd,group,os-release,hostname,hosts}
	chmod 0755 "$r"/{bin,sbin,etc,home,usr,usr/bin,usr/sbin,dev,run,var}
	chmod 0555 "$r/proc" "$r/sys"
	chmod 0700 "$r/root"
	chmod 1777 "$r/tmp" "$r/var/tmp"
	chmod 0755 "$r/home/app"
}

build_busybox() {
	local name=busybox.tar recipe bb work
	recipe=$(busybox_recipe)
	if up_to_date "$name" "$recipe"; then
		log "$name: up to date ($recipe)"
		return 0
	fi
	bb=$(find_busybox) || die "no static busybox found (apt-get install busybox-static)"
	work=$(mktemp -d "$DIR/.build-busybox.XXXXXX")
	# shellcheck disable=SC2064
	trap "cleanup_tmp '$work'" EXIT
	make_busybox_rootfs "$work/rootfs" "$bb"
	(cd "$work/rootfs" && find . -mindepth 1 -maxdepth 1 -printf '%P\n' | LC_ALL=C sort) >"$work/top"
	# Ownership comes from tar, not from the scratch files, so that a non-root
	# caller produces the same bytes: everything 0:0, then home/app as 1000:1000.
	local tarflags=(--numeric-owner --format=gnu --sort=name --mtime="@$BUSYBOX_EPOCH" -C "$work/rootfs")
	tar "${tarflags[@]}" --owner=0 --group=0 --exclude=./home/app --exclude=home/app \
		-cf "$work/out.tar" -T "$work/top"
	tar "${tarflags[@]}" --owner=1000 --group=1000 --no-recursion -rf "$work/out.tar" home/app
	mv -f -- "$work/out.tar" "$DIR/.$name.tmp"
	publish "$DIR/.$name.tmp" "$name" "$recipe"
	cleanup_tmp "$work"
	trap - EXIT
	log "$name: built from $bb ($(du -h "$DIR/$name" | cut -f1))"
	BUILT+=("$name")
}

write_readme() {
	local f
	{
		cat <<-EOF
			ibuild test base images
			=======================

			Made by hack/testbases.sh in the ibuild repository; do not edit by hand.
			Delete a tarball (or run \`hack/testbases.sh --force\`) to rebuild it.
			Each NAME.tar.recipe records the recipe that made NAME.tar; the script
			rebuilds a tarball whose recipe is out of date.

			debian-bookworm-minbase.tar
			  debootstrap --variant=minbase $SUITE ROOTFS MIRROR, then the downloaded
			  .debs, apt lists and /debootstrap removed, /dev emptied, /etc/hostname
			  set to "localhost" and /etc/resolv.conf emptied (no host identity), then
			  tar --numeric-owner --xattrs --sort=name -C ROOTFS -cf (entries without "./").
			  Mirror and build time are in debian-bookworm-minbase.tar.info; the
			  downloaded .debs are kept in debs/ for the next rebuild.

			busybox.tar
			  /bin/busybox copied from the host's busybox-static package, a relative
			  symlink /bin/APPLET -> busybox for every applet of \`busybox --list\`,
			  /etc/passwd (root 0, app 1000, nobody 65534), /etc/group (app is also in
			  "extra" 1001), /etc/os-release (ID=busybox), /etc/hosts, /etc/hostname,
			  /root 0700, /tmp and /var/tmp 1777, /home/app owned by 1000:1000.
			  Every mtime is $BUSYBOX_EPOCH, so the tarball is reproducible.

			Recipes and checksums:
		EOF
		for f in debian-bookworm-minbase.tar busybox.tar; do
			[[ -s $DIR/$f ]] || continue
			printf '  %s\n    %s\n    sha256 %s\n' "$f" "$(cat "$DIR/$f.recipe" 2>/dev/null)" \
				"$(sha256sum "$DIR/$f" | cut -d' ' -f1)"
		done
	} >"$DIR/.README.tmp"
	mv -f "$DIR/.README.tmp" "$DIR/README"
}

# with_lock NAME FUNC runs FUNC holding $DIR/.NAME.lock.
with_lock() {
	local name=$1 fn=$2
	(
		exec 9>"$DIR/.$name.lock"
		if ! flock -n 9; then
			log "$name: waiting for another testbases.sh"
			flock 9
		fi
		trap 'exit 130' INT TERM HUP # so the EXIT trap cleans up
		# Holding the lock, any scratch directory of this base is stale: a
		# killed earlier run may even have left debootstrap's mounts in it.
		local stale
		for stale in "$DIR/.build-$name".*; do
			[[ -d $stale ]] || continue
			log "$name: removing stale $stale"
			cleanup_tmp "$stale"
		done
		BUILT=()
		"$fn"
		if ((${#BUILT[@]})); then
			exec 8>"$DIR/.readme.lock"
			flock 8
			write_readme
		fi
	)
}

# main is called from the last line, so bash has parsed the whole file before
# anything runs: editing or checking out this script during a (minutes long)
# run cannot change what the run executes.
main() {
	FORCE=0
	want=()
	for a in "$@"; do
		case $a in
		--force) FORCE=1 ;;
		debian | busybox) want+=("$a") ;;
		-h | --help) sed -n '2,22p' "$0"; exit 0 ;;
		*) die "unknown argument $a (want: [--force] [busybox] [debian])" ;;
		esac
	done
	((${#want[@]})) || want=(busybox debian)

	mkdir -p "$DIR"
	for w in "${want[@]}"; do
		with_lock "$w" "build_$w"
	done
	[[ -s $DIR/README ]] || { exec 8>"$DIR/.readme.lock"; flock 8; write_readme; }
	log "ready in $DIR"
}

main "$@"
exit
