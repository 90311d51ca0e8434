package main

import (
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// TestCopyKeepsExistingDir is issue #10 defect 5: COPY and ADD into an
// existing directory keep its owner and mode, for later RUN steps too (the
// COPY layer's snapshot presented it as 0:0 0755, and a RUN touching it
// committed that). A directory the COPY carries from its source takes the
// source's metadata, as in BuildKit.
func TestCopyKeepsExistingDir(t *testing.T) {
	df := `FROM busybox
RUN mkdir -p /data/sub /data2 && chown 1000:1000 /data /data/sub /data2 && chmod 700 /data && chmod 750 /data/sub && chmod 711 /data2
COPY f /data/
COPY d/ /data/
COPY f /data2/new/
ADD f /data2/
RUN stat -c '%n %u:%g %a' /data /data/sub /data/f /data/sub/x /data2 /data2/new /data2/f > /stat
RUN touch /data/touched /data2/touched
`
	forEngines(t, func(t *testing.T, eng []string) {
		dir := t.TempDir()
		writeTree(t, dir, map[string]string{"Dockerfile": df, "f": "f", "d/sub/x": "x"})
		local := filepath.Join(t.TempDir(), "rootfs")
		mustRun(t, append(append([]string{"--root", busyboxRoot(t), "--progress", "plain", "-o", "type=local,dest=" + local}, eng...), dir)...)
		// As BuildKit v0.17.3 gives it.
		want := "/data 1000:1000 700\n/data/sub 0:0 755\n/data/f 0:0 644\n/data/sub/x 0:0 644\n" +
			"/data2 1000:1000 711\n/data2/new 0:0 755\n/data2/f 0:0 644\n"
		if got := readOut(t, local, "stat"); got != want {
			t.Errorf("RUN after the COPYs sees:\n%s\nwant:\n%s", got, want)
		}
		tree := walkTree(t, local)
		for _, c := range []struct {
			path string
			mode uint32
		}{{"data", 0o700}, {"data2", 0o711}} {
			e := tree[c.path]
			if e.uid != 1000 || e.gid != 1000 || uint32(e.mode.Perm()) != c.mode {
				t.Errorf("/%s after a RUN wrote into it: %v, want 1000:1000 %o", c.path, e, c.mode)
			}
		}
	})
}

// TestWorkdirOwnedByUser is issue #10 defect 7: WORKDIR creates missing
// directories owned by the current USER, resolved as BuildKit's file
// operations do (a name missing from /etc/passwd is root; a numeric user is
// its own group), and keeps existing parents as they are; a RUN as that
// user can write into it.
func TestWorkdirOwnedByUser(t *testing.T) {
	df := `FROM busybox
RUN mkdir /data && chown 1000:1000 /data && chmod 700 /data
USER app
WORKDIR /data/new/deep
RUN touch x
USER 4242
WORKDIR /w4242/a
USER app:root
WORKDIR /wgrp
USER root
WORKDIR /data/rootdir
USER nosuch
WORKDIR /nosuch
USER app
WORKDIR /tmp
RUN stat -c '%n %u:%g %a' /data /data/new /data/new/deep /data/new/deep/x /w4242 /w4242/a /wgrp /data/rootdir /nosuch /tmp > /tmp/stat
`
	local := filepath.Join(t.TempDir(), "rootfs")
	mustBuild(t, df, "--root", busyboxRoot(t), "-o", "type=local,dest="+local)
	// As BuildKit v0.17.3 gives it.
	want := "/data 1000:1000 700\n/data/new 1000:1000 755\n/data/new/deep 1000:1000 755\n/data/new/deep/x 1000:1000 644\n" +
		"/w4242 4242:4242 755\n/w4242/a 4242:4242 755\n/wgrp 1000:0 755\n/data/rootdir 0:0 755\n/nosuch 0:0 755\n/tmp 0:0 1777\n"
	if got := readOut(t, local, "tmp/stat"); got != want {
		t.Errorf("ownership:\n%s\nwant:\n%s", got, want)
	}
}

// TestCopyWildcards is issue #10 defect 6, as BuildKit v0.17.3 runs COPY:
// a glob matching one file copies it onto a destination without a slash;
// a glob matching nothing is fine, beside another source or alone; several
// files onto a path without a slash are copied in turn, the last winning
// (BuildKit does not refuse; arguably a bug, followed on purpose). A
// missing literal source still fails, naming its line.
func TestCopyWildcards(t *testing.T) {
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{
		"Dockerfile": "FROM scratch\nCOPY f*.go foo2.go\nCOPY foo.go nomatch* /dest/\nCOPY nomatch* /empty/\nCOPY bar.go foo.go /notadir\n",
		"foo.go":     "foo", "bar.go": "bar",
	})
	local := filepath.Join(t.TempDir(), "rootfs")
	root := t.TempDir()
	mustRun(t, "--root", root, "--progress", "plain", "-o", "type=local,dest="+local, dir)
	got := map[string]string{}
	for p, e := range walkTree(t, local) {
		got[p] = e.mode.String()
		if e.mode.IsRegular() {
			got[p] += " " + readOut(t, local, p)
		}
	}
	want := map[string]string{"foo2.go": "-rw-r--r-- foo", "dest": "drwxr-xr-x", "dest/foo.go": "-rw-r--r-- foo", "notadir": "-rw-r--r-- foo"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("rootfs %v, want %v", got, want)
	}

	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY foo.go /\nCOPY nosuch nomatch* /dest/\n"})
	r := run(t, "", nil, "--root", root, "--progress", "plain", dir)
	if r.exitCode() == 0 || !strings.Contains(r.stderr, "Dockerfile:3") || !strings.Contains(r.stderr, "nosuch") {
		t.Errorf("a missing literal source: exit %d, want a failure naming Dockerfile:3 and nosuch:\n%s", r.exitCode(), r.stderr)
	}
}

// TestCopyChownUnknownNames: --chown resolves as BuildKit v0.17.3's file
// operations (readUser): a user or group name missing from the image is 0,
// or keeps the user's gid, instead of failing the build; a numeric user
// alone is its own group. Arguably a BuildKit bug (a typo chowns to root),
// followed on purpose.
func TestCopyChownUnknownNames(t *testing.T) {
	df := `FROM busybox
RUN echo 'u3000:x:3000:4000::/home/u3000:/bin/sh' >> /etc/passwd && echo 'extra:x:1001:app' >> /etc/group
COPY --chown=nosuchuser f /unknownuser
COPY --chown=app:nosuchgroup f /unknowngroup
COPY --chown=nosuchuser:nosuchgroup f /unknownboth
COPY --chown=3000 f /numericonly
COPY --chown=u3000 f /nameonly
COPY --chown=u3000:extra f /namegroup
`
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": df, "f": "f"})
	local := filepath.Join(t.TempDir(), "rootfs")
	mustRun(t, "--root", busyboxRoot(t), "--progress", "plain", "-o", "type=local,dest="+local, dir)
	tree := walkTree(t, local)
	for _, c := range []struct {
		path     string
		uid, gid uint32
	}{{"unknownuser", 0, 0}, {"unknowngroup", 1000, 1000}, {"unknownboth", 0, 0}, {"numericonly", 3000, 3000}, {"nameonly", 3000, 4000}, {"namegroup", 3000, 1001}} {
		if e := tree[c.path]; e.uid != c.uid || e.gid != c.gid {
			t.Errorf("/%s owned by %d:%d, want %d:%d", c.path, e.uid, e.gid, c.uid, c.gid)
		}
	}
}

// TestWorkdirThroughSymlink (with defect 7): WORKDIR /link/sub, /link a
// symlink to /real, creates /real/sub, as BuildKit's mkdir does; the layer
// used to hold a directory link/sub that replaced the symlink.
func TestWorkdirThroughSymlink(t *testing.T) {
	df := "FROM busybox\nRUN mkdir /real && ln -s /real /link\nWORKDIR /link/sub\nRUN pwd > /pwd.txt && touch here\n"
	local := filepath.Join(t.TempDir(), "rootfs")
	mustBuild(t, df, "--root", busyboxRoot(t), "-o", "type=local,dest="+local)
	if got := readOut(t, local, "pwd.txt"); got != "/real/sub\n" {
		t.Errorf("pwd = %q, want /real/sub", got)
	}
	tree := walkTree(t, local)
	if e := tree["link"]; e.target != "/real" {
		t.Errorf("/link is %v, want the symlink to /real", e)
	}
	if _, ok := tree["real/sub/here"]; !ok {
		t.Errorf("/real/sub/here missing")
	}
}

// TestWorkdirSetgidParent (with defect 7): directories WORKDIR creates in a
// setgid directory inherit the bit and, without a USER, the group, as
// mkdir(2) gives them under BuildKit (Alpine's adduser makes homes 2755).
func TestWorkdirSetgidParent(t *testing.T) {
	df := `FROM busybox
RUN mkdir -m 2775 /shared && chown 0:1001 /shared
WORKDIR /shared/sub/deeper
USER app
WORKDIR /shared/u/v
USER root
RUN ls -ld /shared/sub /shared/sub/deeper /shared/u /shared/u/v | awk '{print $1, $3, $4, $NF}' > /modes.txt
`
	local := filepath.Join(t.TempDir(), "rootfs")
	mustBuild(t, df, "--root", busyboxRoot(t), "-o", "type=local,dest="+local)
	// As BuildKit v0.17.3 gives it.
	want := "drwxr-sr-x root extra /shared/sub\ndrwxr-sr-x root extra /shared/sub/deeper\n" +
		"drwxr-sr-x app app /shared/u\ndrwxr-sr-x app app /shared/u/v\n"
	if got := readOut(t, local, "modes.txt"); got != want {
		t.Errorf("modes:\n%s\nwant:\n%s", got, want)
	}
}
