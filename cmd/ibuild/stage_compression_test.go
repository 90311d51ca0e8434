package main

import (
	"path/filepath"
	"testing"

	"github.com/google/go-containerregistry/pkg/v1/types"

	"github.com/ibuild/ibuild/internal/testbase"
)

// TestUnexportedStageLayersPlain: a stage whose layers go into no image
// (it only feeds COPY --from) stores them as plain tars, not compressed
// (issue 12 item 5: a fresh runner compressed a 640 MB toolchain layer
// nobody exports for 19 s). Built later as the target, the same steps are
// reused and their layers compressed then: the image is the one a fresh
// root builds, and the records now hold the compressed layers. With
// --cache-to every layer is compressed, as the cache exports them.
func TestUnexportedStageLayersPlain(t *testing.T) {
	df := "FROM bb AS tools\n" +
		"RUN head -c 300000 /dev/zero > /zeros && echo tool > /tool\n" +
		"COPY f /f\n" +
		"FROM bb\n" +
		"COPY --from=tools /tool /tool\n" +
		"RUN cat /tool > /copy\n"
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": df, "f": "f\n"})
	newRoot := func() string {
		root := t.TempDir()
		mustRun(t, "--root", root, "import", "-t", "bb", testbase.Busybox(t))
		return root
	}
	mediaTypes := func(md metadata) map[string]types.MediaType {
		m := map[string]types.MediaType{}
		for _, s := range md.Steps {
			if s.Layer != nil {
				m[s.Instruction] = s.Layer.MediaType
			}
		}
		return m
	}
	root := newRoot()
	md, r := buildMeta(t, dir, "--root", root)
	got := mediaTypes(md)
	want := map[string]types.MediaType{
		"RUN head -c 300000 /dev/zero > /zeros && echo tool > /tool": types.OCIUncompressedLayer,
		"COPY f /f":                     types.OCIUncompressedLayer,
		"COPY --from=tools /tool /tool": types.OCILayer,
		"RUN cat /tool > /copy":         types.OCILayer,
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("layer of %q: %s, want %s\n%s", k, got[k], w, r.stderr)
		}
	}
	for _, l := range md.Layers {
		if l.MediaType != types.OCILayer {
			t.Errorf("image layer %s is %s, want gzip", l.Digest, l.MediaType)
		}
	}

	// The tools stage as the target: reused, compressed at the end, the
	// same image as on a fresh root.
	mdT, r := buildMeta(t, dir, "--root", root, "--target", "tools")
	for _, s := range mdT.Steps {
		if !s.From && !s.Cached {
			t.Errorf("step %q not reused", s.Instruction)
		}
	}
	mdFresh, _ := buildMeta(t, dir, "--root", newRoot(), "--target", "tools")
	if mdT.ImageDigest != mdFresh.ImageDigest {
		t.Errorf("--target tools after a build that did not export it: %s; on a fresh root: %s\n%s", mdT.ImageDigest, mdFresh.ImageDigest, r.stderr)
	}
	for k, mt := range mediaTypes(mdT) {
		if mt != types.OCILayer {
			t.Errorf("--target tools: layer of %q is %s, want gzip", k, mt)
		}
	}
	// The records were rewritten: a third build reuses compressed layers.
	for k, mt := range mediaTypes(buildMetaOnly(t, dir, "--root", root, "--target", "tools")) {
		if mt != types.OCILayer {
			t.Errorf("third build: the record of %q holds a %s layer, want gzip", k, mt)
		}
	}

	// --cache-to exports every stage's layers: all compressed.
	cacheDir := filepath.Join(t.TempDir(), "cache")
	mdC, _ := buildMeta(t, dir, "--root", newRoot(), "--cache-to", "type=local,dest="+cacheDir+",mode=max")
	for k, mt := range mediaTypes(mdC) {
		if mt != types.OCILayer {
			t.Errorf("with --cache-to: layer of %q is %s, want gzip", k, mt)
		}
	}
}

// buildMetaOnly is buildMeta without the command's output.
func buildMetaOnly(t *testing.T, dir string, args ...string) metadata {
	t.Helper()
	md, _ := buildMeta(t, dir, args...)
	return md
}
