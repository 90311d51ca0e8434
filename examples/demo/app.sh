#!/bin/sh
# The demo app: print the site built into /srv.
for f in /srv/*.txt; do
	printf '== %s ==\n' "${f##*/}"
	cat "$f"
done
cat /srv/BUILD_INFO
