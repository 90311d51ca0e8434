package main

import (
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/ibuild/ibuild/registry/registrytest"
)

// TestCacheFromFetchesOnlyReusedLayers is the cold --cache-from start of
// issue 12 item 5: on an empty root, after a one-file change, the build
// downloads from the cache only the layers of the steps it reuses and
// builds on, each once, shows each download in the progress, and never
// fetches the layer of a reused step that nothing reads (a stage whose
// files reached the final image through a reused COPY --from).
func TestCacheFromFetchesOnlyReusedLayers(t *testing.T) {
	host := registrytest.Start(t)
	base := host + "/base/busybox:1"
	pushedBase(t, base)
	proxy := registrytest.FaultProxy(t, host)
	df := "FROM " + base + " AS tools\n" +
		"RUN echo tool > /tool && echo x > /x\n" +
		"FROM " + base + "\n" +
		"RUN echo one > /one\n" +
		"COPY a /a\n" +
		"COPY --from=tools /tool /tool\n" +
		"RUN cat /a /one > /two\n" +
		"COPY b /b\n" +
		"RUN cat /b /two > /three\n"
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": df, "a": "a\n", "b": "b\n"})
	mdA, _ := buildMeta(t, dir, "--root", t.TempDir(), "--cache-to", "type=registry,ref="+host+"/cache/app:1,mode=max")
	layerOf := map[string]string{}
	for _, s := range mdA.Steps {
		if s.Layer != nil {
			layerOf[s.Instruction] = s.Layer.Digest.String()
		}
	}
	reused := []string{layerOf["RUN echo one > /one"], layerOf["COPY a /a"],
		layerOf["COPY --from=tools /tool /tool"], layerOf["RUN cat /a /one > /two"]}
	unread := layerOf["RUN echo tool > /tool && echo x > /x"]
	for _, d := range append(reused, unread) {
		if d == "" {
			t.Fatalf("a step made no layer: %v", layerOf)
		}
	}

	writeTree(t, dir, map[string]string{"b": "b changed\n"})
	mdB, r := buildMeta(t, dir, "--root", t.TempDir(), "--cache-from", "type=registry,ref="+proxy.Host+"/cache/app:1",
		"--push", "-t", proxy.Host+"/app/img:1")
	for _, s := range mdB.Steps {
		wantCached := !strings.Contains(s.Instruction, "/b") && !s.From
		if s.Cached != wantCached && !s.From {
			t.Errorf("step %q cached = %v, want %v", s.Instruction, s.Cached, wantCached)
		}
	}
	isLayer := map[string]bool{}
	for _, d := range layerOf {
		isLayer[d] = true
	}
	var got []string
	others := 0 // the cache's index (its config blob)
	for _, req := range proxy.Requests() {
		if !strings.HasPrefix(req, "GET /v2/cache/app/blobs/") {
			continue
		}
		if d := filepath.Base(req); isLayer[d] {
			got = append(got, d)
		} else {
			others++
		}
	}
	if others != 1 {
		t.Errorf("%d blob GETs of other blobs than layers, want 1 (the index): %v", others, proxy.Requests())
	}
	want := append([]string(nil), reused...)
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("layer blobs fetched from the cache:\n got %v\nwant %v (the reused layers, each once; not the tools stage's %s)\nrequests: %v",
			got, want, unread, proxy.Requests())
	}
	// The push mounts the reused layers from the cache's repository: only
	// the base's layers, the two rebuilt ones and the config are uploaded.
	puts := 0
	for _, req := range proxy.Requests() {
		if strings.HasPrefix(req, "PUT /v2/app/img/blobs/uploads/") {
			puts++
		}
	}
	if want := len(mdB.Layers) + 1 - len(reused); puts != want {
		t.Errorf("%d blobs uploaded to app/img, want %d (%d layers and the config, less the %d reused ones mounted from the cache)\nrequests: %v",
			puts, want, len(mdB.Layers), len(reused), proxy.Requests())
	}
	// Each download shows in the progress, with its size, and ends done.
	for _, d := range reused {
		short := d[:len("sha256:")+12]
		if !strings.Contains(r.stderr, "] fetching cache layer "+short) || !regexpDone(r.stderr, short) {
			t.Errorf("no download progress for %s:\n%s", short, r.stderr)
		}
	}
	if strings.Contains(r.stderr, unread[:len("sha256:")+12]) {
		t.Errorf("progress mentions the unread layer %s:\n%s", unread, r.stderr)
	}

	// A reused layer whose bytes are wrong fails the build, naming it, and
	// leaves neither its blob nor a snapshot (extracted while it
	// downloaded) behind.
	bad := reused[0]
	badProxy := registrytest.FaultProxy(t, host, registrytest.Fault{Kind: registrytest.WrongBytes, Path: "/blobs/" + bad, Persistent: true})
	rootC := t.TempDir()
	rc := run(t, "", nil, "--root", rootC, "--progress", "plain", "--cache-from", "type=registry,ref="+badProxy.Host+"/cache/app:1", dir)
	if rc.err == nil || !strings.Contains(rc.stderr, bad) {
		t.Errorf("build from a cache serving wrong bytes for %s: err %v, want a failure naming it:\n%s", bad, rc.err, rc.stderr)
	}
	if _, err := os.Stat(filepath.Join(rootC, "blobs", "sha256", strings.TrimPrefix(bad, "sha256:"))); err == nil {
		t.Errorf("blob %s stored from wrong bytes", bad)
	}
	for _, s := range mdA.Steps {
		if s.Layer != nil && s.Layer.Digest.String() == bad {
			if _, err := os.Stat(filepath.Join(rootC, "snapshots", s.Layer.DiffID.Hex)); err == nil {
				t.Errorf("snapshot of %s made from wrong bytes", bad)
			}
		}
	}
	if testing.Verbose() {
		t.Log(r.stderr)
	}
}

// regexpDone says whether out has a progress line saying the download of
// the layer named short finished ("sha256:… 123B / 123B done").
func regexpDone(out, short string) bool {
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, " "+short+" ") && strings.HasSuffix(line, " done") && strings.Contains(line, " / ") {
			return true
		}
	}
	return false
}
