package build

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/ibuild/ibuild/cache"
	"github.com/ibuild/ibuild/internal/testbase"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// goldenCase is one in-process build: a Dockerfile and its context.
type goldenCase struct {
	name       string
	dockerfile string
	files      map[string]string // context files; archive.tar.gz gets a small tar.gz
	buildArgs  map[string]string
	target     string
	busybox    bool // import the busybox test base as "busybox" first
}

var goldenCases = []goldenCase{
	{name: "metadata", buildArgs: map[string]string{"VERSION": "1.2"}, dockerfile: `ARG VERSION=0
FROM scratch
ARG VERSION
ENV APP=/srv/app PATH=/srv/app/bin:$PATH
LABEL org.opencontainers.image.version=$VERSION maintainer=ibuild
EXPOSE 80 8000-8001/udp
USER 1000:1000
WORKDIR $APP
VOLUME /data
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=5s --retries=2 CMD ["/bin/check"]
SHELL ["/bin/sh", "-eu", "-c"]
ENTRYPOINT ["/bin/app"]
CMD ["--serve"]
ONBUILD COPY . /src
`},
	{name: "copy", files: map[string]string{"a.txt": "A\n", "dir/b.txt": "B\n", "dir/sub/c.txt": "C\n", "archive.tar.gz": ""}, dockerfile: `FROM scratch
COPY a.txt /
COPY --chmod=0600 --chown=10:20 a.txt /secret/a
COPY dir /opt/dir/
COPY <<GREETING /etc/greeting
hello
GREETING
ADD archive.tar.gz /unpacked/
WORKDIR /opt/dir/sub
`},
	{name: "multistage", target: "final", files: map[string]string{"src.txt": "source\n"}, dockerfile: `FROM scratch AS base
COPY src.txt /src/
FROM base AS build
WORKDIR /out
COPY --from=base /src/src.txt /out/built.txt
FROM scratch AS unused
COPY src.txt /unused
FROM base AS final
COPY --from=build /out /app
ENV MODE=final
FROM scratch
COPY src.txt /last
`},
	{name: "run", busybox: true, dockerfile: `FROM busybox
ENV GREETING=hi
WORKDIR /work
RUN echo "$GREETING from $(pwd)" > out.txt && mkdir -p /var/cache/x && echo tmp > /var/cache/x/f
RUN rm -r /var/cache/x && ln -s out.txt link
ARG N=3
RUN seq 1 $N > numbers
USER app
CMD ["cat", "/work/out.txt"]
`},
}

// TestBuildGolden builds each case in process, checks the image with
// validate.Image, compares its config, history, layers and steps with
// testdata/golden/NAME.txt (go test ./build -run TestBuildGolden -update
// rewrites them), and builds it again: every step must hit the cache and
// the image must be identical.
func TestBuildGolden(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("builds mount overlays: run as root")
	}
	for _, c := range goldenCases {
		t.Run(c.name, func(t *testing.T) {
			ctx := context.Background()
			store, err := cache.Open(ctx, t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			base := 0
			if c.busybox {
				res, err := Import(ctx, ImportOptions{Source: testbase.Busybox(t), Store: store, Message: "busybox test base",
					Tags: []string{"docker.io/library/busybox:latest"}})
				if err != nil {
					t.Fatal(err)
				}
				base = len(res.Layers)
			}
			opt := Options{ContextDir: goldenContext(t, c.files), Store: store, BuildArgs: c.buildArgs, Target: c.target, DockerfileData: []byte(c.dockerfile)}
			res, err := Build(ctx, opt)
			if err != nil {
				t.Fatal(err)
			}
			if err := validate.Image(res.Image); err != nil {
				t.Fatalf("validate.Image: %v", err)
			}
			golden(t, c.name+".txt", describeBuild(t, res, base))

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

// goldenContext writes a build context.
func goldenContext(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, data := range files {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		b := []byte(data)
		if name == "archive.tar.gz" {
			b = smallTarGz(t)
		}
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// smallTarGz is a gzipped tar of inner/x.txt and inner/y.txt.
func smallTarGz(t *testing.T) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	for _, f := range []struct{ name, data string }{{"inner/x.txt", "x\n"}, {"inner/y.txt", "y\n"}} {
		if err := tw.WriteHeader(&tar.Header{Name: f.name, Mode: 0o644, Size: int64(len(f.data)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write([]byte(f.data)); err != nil {
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

// describeBuild renders what a build made, deterministically: the config
// (without os, architecture and rootfs, which depend on the host and the
// test base), the history, the diffIDs of the layers the build added (not
// those of the base) and the steps.
func describeBuild(t *testing.T, res *Result, base int) []byte {
	t.Helper()
	cf, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	cfg, err := json.MarshalIndent(cf.Config, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(&b, "config: %s\n", cfg)
	b.WriteString("history:\n")
	for _, h := range cf.History {
		fmt.Fprintf(&b, "  %s | empty=%v | %s\n", h.CreatedBy, h.EmptyLayer, h.Comment)
	}
	b.WriteString("layers:\n")
	for i, l := range res.Layers {
		if i < base {
			fmt.Fprintf(&b, "  %d: base\n", i)
			continue
		}
		fmt.Fprintf(&b, "  %d: %s (%d bytes uncompressed)\n", i, l.DiffID, uncompressedSize(t, res.Image, l.DiffID))
	}
	b.WriteString("steps:\n")
	for _, s := range res.Steps {
		layerIdx := "-"
		if s.LayerIndex != NoLayer {
			layerIdx = fmt.Sprint(s.LayerIndex)
		}
		fmt.Fprintf(&b, "  stage %d %q %s | %s | from=%v layer=%s inTarget=%v\n", s.StageIndex, s.Stage, s.Location, s.Instruction, s.From, layerIdx, s.InTarget)
	}
	return []byte(b.String())
}

// uncompressedSize is the length of a layer's tar stream.
func uncompressedSize(t *testing.T, img v1.Image, diffID v1.Hash) int64 {
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
	n, err := io.Copy(io.Discard, rc)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// golden compares got with testdata/golden/name, rewriting it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	p := filepath.Join("testdata", "golden", name)
	if *update {
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(p)
	if err != nil {
		t.Fatalf("%v (go test ./build -run TestBuildGolden -update creates it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the build (-update rewrites it):\n--- got\n%s\n--- want\n%s", p, got, want)
	}
}
