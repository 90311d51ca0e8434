package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"unicode"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/internal/testbase"
	"github.com/ibuild/ibuild/layer"
)

// arEntry is one entry of a tar archive a case puts in its context.
type arEntry struct {
	name, body, link string
	typ              byte
	mode             int64
	uid, gid         int
}

// buildCase is one in-process build of TestBuildCases or TestBuildErrors.
type buildCase struct {
	name       string
	dockerfile string
	files      map[string]string    // context files
	archives   map[string][]arEntry // context tar.gz archives
	buildArgs  map[string]string
	target     string
	busybox    bool     // import the busybox test base as "busybox" first
	onbuild    []string // import busybox as "onbuild-base" with these ONBUILD triggers
	wantErr    []string // TestBuildErrors: substrings of the error
}

var buildCases = []buildCase{
	{name: "add-archive", busybox: true,
		files: map[string]string{"notes.txt": "plain\n"},
		archives: map[string][]arEntry{"app.tar.gz": {
			{name: "./", typ: tar.TypeDir, mode: 0o755},
			{name: "./bin/", typ: tar.TypeDir, mode: 0o755},
			{name: "./bin/tool", typ: tar.TypeReg, body: "#!/bin/sh\n", mode: 0o755, uid: 1000, gid: 1000},
			{name: "./bin/alias", typ: tar.TypeLink, link: "./bin/tool"},
			{name: "./etc/", typ: tar.TypeDir, mode: 0o700},
			{name: "/etc/app.conf", typ: tar.TypeReg, body: "k=v\n", mode: 0o600},
			{name: "current", typ: tar.TypeSymlink, link: "bin"},
		}},
		dockerfile: `FROM busybox
# Into a new directory, into an existing one (its metadata is kept), and a
# file that is no archive, which ADD copies as it is.
ADD app.tar.gz /opt/app/
ADD app.tar.gz /etc/
ADD --chown=app:extra --chmod=0640 notes.txt /home/app/
COPY --chown=1000 app.tar.gz /srv/
`},
	{name: "workdir", busybox: true, buildArgs: map[string]string{"SUB": "given"}, dockerfile: `FROM busybox
ARG SUB=default
ENV ROOT=/srv
WORKDIR $ROOT/a
WORKDIR b
WORKDIR ../c/$SUB
USER app
WORKDIR /home/app/made/by/app
WORKDIR /etc
RUN pwd > /tmp/pwd
`},
	{name: "user", busybox: true, dockerfile: `FROM busybox
USER app
RUN id > /tmp/id-app
USER 1000:extra
RUN id > /tmp/id-group
USER nobody
COPY --chown=nobody:nogroup --from=busybox /etc/hostname /tmp/host
USER root
RUN id -u > /tmp/id-root && stat -c '%n %u:%g %a' /tmp/id-* /tmp/host > /tmp/owners
`},
	{name: "env-arg", busybox: true, buildArgs: map[string]string{"TAG": "two", "OVERRIDE": "set"},
		files: map[string]string{"two.txt": "second\n"}, dockerfile: `ARG BASE=busybox
ARG TAG=one
FROM $BASE AS first
ARG TAG
ARG OVERRIDE=default
ARG UNSET
ENV FROM_ARG=$TAG DEFAULTED=${UNSET:-fallback} ALT=${TAG:+present} QUOTED="a b"
ENV PATH=/opt/bin:$PATH
COPY $TAG.txt /data/${TAG}.txt
LABEL tag=$TAG override=$OVERRIDE
RUN echo "$TAG $OVERRIDE $FROM_ARG $UNSET" > /data/run-env && env | grep -c '^TAG=' > /data/arg-in-env || true
FROM first
# A stage FROM another keeps its build args, as in BuildKit (its
# dispatch state appends the base stage's): TAG is set before and after.
RUN echo "[$TAG]" > /data/second-stage
ARG TAG
RUN echo "[$TAG]" >> /data/second-stage
`},
	{name: "copy-from", busybox: true, target: "final", files: map[string]string{"src/main.c": "int main;\n", "src/README": "read\n"}, dockerfile: `FROM busybox AS build
COPY src /src
RUN mkdir /out && cat /src/main.c > /out/app && chmod 0755 /out/app && ln -s app /out/link
FROM scratch AS assets
COPY src/README /share/doc/README
FROM busybox AS final
COPY --from=build /out/ /usr/local/bin/
COPY --from=1 /share /usr/share
COPY --from=build --chown=app:app /src/main.c /home/app/
COPY --from=busybox /etc/os-release /etc/base-release
`},
	{name: "onbuild", busybox: true,
		onbuild: []string{"ONBUILD RUN echo imported trigger > /imported", "ONBUILD ENV FROM_IMPORT=1"},
		files:   map[string]string{"a.txt": "A\n"},
		dockerfile: `FROM onbuild-base AS base
ONBUILD COPY a.txt /triggered/
ONBUILD WORKDIR /triggered
ONBUILD LABEL triggered=yes
FROM base
RUN ls > listing
`},
	{name: "healthcheck", target: "inherit", dockerfile: healthcheckDockerfile},
	{name: "healthcheck-override", target: "override", dockerfile: healthcheckDockerfile},
	{name: "healthcheck-none", target: "none", dockerfile: healthcheckDockerfile},
}

// healthcheckDockerfile sets a shell-form check with every option, which a
// stage inherits, another overrides with an exec form, and the last turns
// off.
const healthcheckDockerfile = `FROM scratch AS shell
HEALTHCHECK --interval=30s --timeout=3s --start-period=1m --start-interval=2s --retries=4 CMD curl -f http://localhost/ || exit 1
FROM shell AS inherit
LABEL inherited=yes
FROM inherit AS override
HEALTHCHECK CMD ["/bin/check", "--deep"]
FROM override AS none
HEALTHCHECK NONE
`

// TestBuildCases builds each case of buildCases in process, checks the
// image with validate.Image, compares its config, history, steps and the
// files of every layer it added with testdata/golden/NAME.txt (go test
// ./build -run TestBuildCases -update rewrites them), and builds it again:
// every step must hit the cache and the image must be identical.
func TestBuildCases(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("builds mount overlays: run as root")
	}
	for _, c := range buildCases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			_, opt, base := prepareCase(t, c)
			res, err := Build(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(res.Image); err != nil {
				t.Fatalf("validate.Image: %v", err)
			}
			got := describeBuild(t, res, base)
			raw, err := res.Image.RawConfigFile()
			if err != nil {
				t.Fatal(err)
			}
			// go-containerregistry's config type drops StartInterval.
			if d, err := rawHealthStartInterval(raw); err != nil || d != 0 {
				got = append(got, fmt.Sprintf("healthcheck start interval: %v %v\n", d, err)...)
			}
			got = append(got, describeFiles(t, res, base)...)
			golden(t, c.name+".txt", got)

			again, err := Build(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			if again.Manifest.Digest != res.Manifest.Digest {
				t.Errorf("rebuild gave manifest %s, first build %s", again.Manifest.Digest, res.Manifest.Digest)
			}
			for _, s := range again.Steps {
				if !s.Cached {
					t.Errorf("rebuild ran %s", s.Name)
				}
			}
		})
	}
}

var errorCases = []buildCase{
	{name: "ADD archive climbing out", archives: map[string][]arEntry{"evil.tar.gz": {
		{name: "ok", typ: tar.TypeReg, body: "fine\n", mode: 0o644},
		{name: "../../outside", typ: tar.TypeReg, body: "evil\n", mode: 0o644},
	}}, dockerfile: "FROM scratch\nCOPY evil.tar.gz /kept.tar.gz\nADD evil.tar.gz /x/\n",
		wantErr: []string{`Dockerfile:3: ADD evil.tar.gz: entry "../../outside": path escapes the root`}},
	{name: "ADD archive through its own symlink", archives: map[string][]arEntry{"evil.tar.gz": {
		{name: "etc", typ: tar.TypeSymlink, link: "/etc"},
		{name: "etc/cron.d/job", typ: tar.TypeReg, body: "* * * * * root sh\n", mode: 0o644},
	}}, dockerfile: "FROM scratch\n\nADD evil.tar.gz /\n",
		wantErr: []string{`Dockerfile:3: ADD evil.tar.gz: entry "etc/cron.d/job": path goes through symlink "etc"`}},
	{name: "ADD archive hard link out", archives: map[string][]arEntry{"evil.tar.gz": {
		{name: "shadow", typ: tar.TypeLink, link: "../../../etc/shadow"},
	}}, dockerfile: "FROM scratch\nADD evil.tar.gz /x/\n",
		wantErr: []string{`Dockerfile:2: ADD evil.tar.gz: entry "shadow": link target "../../../etc/shadow": path escapes the root`}},
	{name: "COPY missing source", dockerfile: "FROM scratch\nENV A=1\nCOPY missing.txt /\n",
		wantErr: []string{"Dockerfile:3", "missing.txt"}},
	{name: "COPY --from a later stage", files: map[string]string{"a": "a"}, dockerfile: "FROM scratch AS one\nCOPY --from=two /a /a\nFROM scratch AS two\nCOPY a /a\n",
		wantErr: []string{"Dockerfile:2", "two"}},
	{name: "WORKDIR onto a file", busybox: true, dockerfile: "FROM busybox\nWORKDIR /etc/passwd/sub\nRUN true\n",
		wantErr: []string{"Dockerfile:3"}},
	{name: "USER unknown at RUN", busybox: true, dockerfile: "FROM busybox\nUSER nosuchuser\nRUN true\n",
		wantErr: []string{"Dockerfile:3", "nosuchuser"}},
	{name: "HEALTHCHECK bad interval", dockerfile: "FROM scratch\nHEALTHCHECK --interval=soon CMD true\n",
		wantErr: []string{"Dockerfile:2", "HEALTHCHECK", `invalid duration "soon"`}},
	{name: "ONBUILD trigger that fails", files: map[string]string{"a": "a"}, dockerfile: "FROM scratch AS base\nONBUILD COPY missing /m\nFROM base\n",
		wantErr: []string{"missing"}},
}

// TestBuildErrors: a bad build fails with an error naming the Dockerfile
// line and the cause, and leaves no tag behind.
func TestBuildErrors(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("builds mount overlays: run as root")
	}
	for _, c := range errorCases {
		t.Run(c.name, func(t *testing.T) {
			store, opt, _ := prepareCase(t, c)
			opt.Tags = []string{"example.com/must-not-exist:latest"}
			_, err := Build(context.Background(), opt)
			if err == nil {
				t.Fatal("the build succeeded")
			}
			t.Logf("error: %v", err)
			for _, w := range c.wantErr {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q lacks %q", err, w)
				}
			}
			if strings.HasPrefix(c.name, "ADD archive") && !errors.Is(err, layer.ErrInvalidEntry) {
				t.Errorf("error %v does not wrap layer.ErrInvalidEntry", err)
			}
			if _, err := store.Resolve(context.Background(), "example.com/must-not-exist:latest"); err == nil {
				t.Error("a failed build tagged its image")
			}
		})
	}
}

// prepareCase opens a store, imports the bases the case names and writes
// its context; base is the number of layers its base contributes.
func prepareCase(t *testing.T, c buildCase) (*cache.Store, Options, int) {
	t.Helper()
	ctx := context.Background()
	store, err := cache.Open(ctx, t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { store.Close() })
	base := 0
	if c.busybox || c.onbuild != nil {
		res, err := Import(ctx, ImportOptions{Source: testbase.Busybox(t), Store: store, Message: "busybox test base",
			Tags: []string{"docker.io/library/busybox:latest"}})
		if err != nil {
			t.Fatal(err)
		}
		base = len(res.Layers)
	}
	if c.onbuild != nil {
		if _, err := Import(ctx, ImportOptions{Source: testbase.Busybox(t), Store: store, Message: "busybox with triggers",
			Changes: c.onbuild, Tags: []string{"docker.io/library/onbuild-base:latest"}}); err != nil {
			t.Fatal(err)
		}
	}
	dir := goldenContext(t, c.files)
	for name, entries := range c.archives {
		if err := os.WriteFile(filepath.Join(dir, name), tarGz(t, entries), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return store, Options{ContextDir: dir, Store: store, BuildArgs: c.buildArgs, Target: c.target, DockerfileData: []byte(c.dockerfile)}, base
}

// tarGz makes a gzipped tar of entries, in order, dated at the epoch.
func tarGz(t *testing.T, entries []arEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, e := range entries {
		hdr := &tar.Header{Name: e.name, Linkname: e.link, Typeflag: e.typ, Mode: e.mode, Uid: e.uid, Gid: e.gid,
			Size: int64(len(e.body)), ModTime: DefaultEpoch}
		if e.typ != tar.TypeReg {
			hdr.Size = 0
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatal(err)
		}
		if _, err := io.WriteString(tw, e.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// describeFiles lists the entries of every layer the build added: type,
// mode, owner, name, link target, and a short text body or the digest of
// a longer one.
func describeFiles(t *testing.T, res *Result, base int) []byte {
	t.Helper()
	var b strings.Builder
	b.WriteString("files:\n")
	for i, l := range res.Layers {
		if i < base {
			continue
		}
		fmt.Fprintf(&b, "  layer %d:\n", i)
		for _, line := range layerEntries(t, res.Image, l.DiffID) {
			fmt.Fprintf(&b, "    %s\n", line)
		}
	}
	return []byte(b.String())
}

func layerEntries(t *testing.T, img v1.Image, diffID v1.Hash) []string {
	t.Helper()
	l, err := img.LayerByDiffID(diffID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := l.Uncompressed()
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var out []string
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(tr)
		if err != nil {
			t.Fatal(err)
		}
		s := fmt.Sprintf("%c %04o %d:%d %s", hdr.Typeflag, hdr.Mode, hdr.Uid, hdr.Gid, hdr.Name)
		if hdr.Linkname != "" {
			s += " -> " + hdr.Linkname
		}
		if hdr.Typeflag == tar.TypeReg {
			s += " " + bodyText(body)
		}
		out = append(out, s)
	}
}

// bodyText quotes a short printable body, or abbreviates the digest of
// any other.
func bodyText(b []byte) string {
	printable := len(b) <= 160
	for _, r := range string(b) {
		if !unicode.IsPrint(r) && r != '\n' && r != '\t' {
			printable = false
		}
	}
	if printable {
		return fmt.Sprintf("%q", b)
	}
	sum := sha256.Sum256(b)
	return fmt.Sprintf("(%d bytes, sha256:%x...)", len(b), sum[:8])
}
