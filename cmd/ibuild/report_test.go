package main

import (
	"bytes"
	"encoding/json"
	"image/png"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/ibuild/ibuild/internal/testbase"
	"github.com/ibuild/ibuild/layer"
	"github.com/ibuild/ibuild/report"
)

// readReport parses a JSON report file.
func readReport(t *testing.T, name string) *report.Report {
	t.Helper()
	r, err := report.ReadFile(name)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

// checkExactSizes compares a report variant's layer sizes with skopeo's view
// of the OCI layout and with the blob files: compressed = blob file size =
// manifest size; uncompressed = length of the decompressed blob.
func checkExactSizes(t *testing.T, v *report.Variant, dir string) {
	t.Helper()
	out, err := exec.Command("skopeo", "inspect", "--raw", "oci:"+dir).Output()
	if err != nil {
		t.Fatalf("skopeo inspect --raw oci:%s: %v", dir, err)
	}
	var m v1.Manifest
	if err := json.Unmarshal(out, &m); err != nil {
		t.Fatal(err)
	}
	if len(m.Layers) != len(v.Layers) {
		t.Fatalf("report has %d layers, skopeo %d", len(v.Layers), len(m.Layers))
	}
	for i, l := range m.Layers {
		got := v.Layers[i]
		blob := filepath.Join(dir, "blobs", l.Digest.Algorithm, l.Digest.Hex)
		fi, err := os.Stat(blob)
		if err != nil {
			t.Fatal(err)
		}
		if got.Digest != l.Digest.String() || got.Compressed != l.Size || got.Compressed != fi.Size() {
			t.Errorf("layer %d: report %s %d bytes; skopeo %s %d bytes; blob file %d bytes", i, got.Digest, got.Compressed, l.Digest, l.Size, fi.Size())
		}
		f, err := os.Open(blob)
		if err != nil {
			t.Fatal(err)
		}
		rc, err := layer.Decompress(f)
		if err != nil {
			t.Fatal(err)
		}
		n, err := io.Copy(io.Discard, rc)
		rc.Close()
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
		if got.Uncompressed != n {
			t.Errorf("layer %d: report says %d uncompressed bytes, the tar stream is %d", i, got.Uncompressed, n)
		}
	}
}

// findGroup returns the waste group of rule in v.
func findGroup(v *report.Variant, rule string) *report.WasteGroup {
	for i, g := range v.Waste.Groups {
		if g.Rule == rule {
			return &v.Waste.Groups[i]
		}
	}
	return nil
}

// stepOf returns the step at Dockerfile location loc.
func stepOf(v *report.Variant, loc string) *report.Step {
	for _, s := range v.Steps {
		if strings.HasSuffix(s.Location, loc) {
			return s
		}
	}
	return nil
}

const cacheDockerfile = `FROM busybox AS base
RUN mkdir -p /var/cache/apk /root/.cache/pip && head -c 100000 /dev/urandom > /var/cache/apk/x && head -c 50000 /dev/urandom > /root/.cache/pip/y
FROM base
COPY f.txt /app/
RUN rm /var/cache/apk/x && echo done > /app/done
`

// TestCompareBases builds one Dockerfile on the busybox and Debian bases
// (the root FROM is rewritten), checks the waste and its step, the exact
// sizes against skopeo and the blobs, and the budgets.
func TestCompareBases(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("RUN needs root")
	}
	root, work := t.TempDir(), t.TempDir()
	mustRun(t, "--root", root, "import", "-t", "busybox", testbase.Busybox(t))
	mustRun(t, "--root", root, "import", "-t", "debian", testbase.Debian(t))
	ctxDir := filepath.Join(work, "ctx")
	writeTree(t, ctxDir, map[string]string{"Dockerfile": cacheDockerfile, "f.txt": strings.Repeat("f", 3000)})
	out := filepath.Join(work, "report.json")
	mustRun(t, "--root", root, "compare", "--progress", "plain", "--base", "busybox", "--base", "debian",
		"--format", "json", "-o", out, ctxDir)
	r := readReport(t, out)
	if len(r.Variants) != 2 || r.Variants[0].Name != "busybox" || r.Variants[1].Name != "debian" {
		t.Fatalf("variants: %+v", r.Variants)
	}
	for _, v := range r.Variants {
		run := stepOf(v, "Dockerfile:2")
		if run == nil || run.Layer < 0 {
			t.Fatalf("%s: no step with a layer at Dockerfile:2: %+v", v.Name, v.Steps)
		}
		pip := findGroup(v, "pip-cache")
		if pip == nil || pip.Bytes != 50000 || pip.Layer != run.Layer || pip.Examples[0] != "/root/.cache/pip/y" {
			t.Errorf("%s: pip-cache waste %+v, want 50000 bytes in layer %d", v.Name, pip, run.Layer)
		}
		var deleted int64
		for _, g := range v.Waste.Groups {
			if g.Kind == "deleted" && g.Layer == run.Layer {
				deleted += g.Bytes
			}
		}
		if deleted != 100000 {
			t.Errorf("%s: %d deleted bytes attributed to the RUN layer, want 100000 (/var/cache/apk/x)", v.Name, deleted)
		}
		if v.Efficiency >= 1 || v.Base.Layers != 1 || len(v.Steps) != 3 {
			t.Errorf("%s: efficiency %v, base %+v, %d steps", v.Name, v.Efficiency, v.Base, len(v.Steps))
		}
		// The same build exported as OCI (a cache hit) has the same layers.
		dir := filepath.Join(work, "oci-"+v.Name)
		df := filepath.Join(work, "Dockerfile."+v.Name)
		os.WriteFile(df, []byte(strings.Replace(cacheDockerfile, "FROM busybox", "FROM "+v.Name, 1)), 0o644)
		mustRun(t, "--root", root, "build", "--progress", "plain", "-f", df, "-o", "type=oci,dest="+dir, ctxDir)
		checkExactSizes(t, v, dir)
	}
	if len(r.Rows) != 3 || r.Rows[0].Cells[0] != 0 || r.Rows[0].Cells[1] != 0 {
		t.Errorf("rows: %+v", r.Rows)
	}
	if r.Shared.Layers != 2 { // the COPY and RUN rm layers are identical
		t.Errorf("shared: %+v", r.Shared)
	}
	checkBudgets(t, root, ctxDir, out)
}

// checkBudgets runs compare with limits below and above the figures.
func checkBudgets(t *testing.T, root, ctxDir, baseline string) {
	t.Helper()
	args := []string{"--root", root, "compare", "--progress", "plain", "--base", "busybox", "--base", "debian", "-o", os.DevNull}
	cases := []struct {
		name  string
		flags []string
		want  string // "" = exit 0
	}{
		{"within", []string{"--max-size", "1GB", "--max-waste", "1GB", "--baseline", baseline, "--max-increase", "0%"}, ""},
		{"size", []string{"--max-size", "1MB"}, "variant debian: compressed size"},
		{"uncompressed", []string{"--max-size", "uncompressed=10kB"}, "variant busybox: uncompressed size"},
		{"waste", []string{"--max-waste", "100kB"}, "variant busybox: waste 150kB (150000 bytes) exceeds --max-waste 100kB (100000 bytes)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := run(t, "", nil, append(append(args, c.flags...), ctxDir)...)
			if c.want == "" {
				if r.err != nil {
					t.Fatalf("exit %d:\n%s", r.exitCode(), r.stderr)
				}
				return
			}
			if r.exitCode() == 0 || !strings.Contains(r.stderr, c.want) {
				t.Errorf("exit %d, stderr:\n%s\nwant %q", r.exitCode(), r.stderr, c.want)
			}
		})
	}
	// A variant that grows by more than 5% over the baseline fails.
	os.WriteFile(filepath.Join(ctxDir, "f.txt"), bytes.Repeat([]byte("g"), 3000), 0o644)
	os.WriteFile(filepath.Join(ctxDir, "Dockerfile"), []byte(cacheDockerfile+"RUN head -c 3000000 /dev/urandom > /big\n"), 0o644)
	r := run(t, "", nil, append(args, "--baseline", baseline, "--max-increase", "5%", ctxDir)...)
	if r.exitCode() == 0 || !strings.Contains(r.stderr, "variant busybox: compressed size") || !strings.Contains(r.stderr, "more than --max-increase 5%") {
		t.Errorf("exit %d, stderr:\n%s", r.exitCode(), r.stderr)
	}
}

// TestInspectAptWaste installs a package on Debian leaving the apt lists
// behind; inspect finds them in the RUN layer, lists the package, matches
// skopeo to the byte, and its HTML report renders in headless Chromium.
func TestInspectAptWaste(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("RUN needs root")
	}
	root, work := t.TempDir(), t.TempDir()
	mustRun(t, "--root", root, "import", "-t", "debian", testbase.Debian(t))
	ctxDir := filepath.Join(work, "ctx")
	writeTree(t, ctxDir, map[string]string{"Dockerfile": "FROM debian\nENV DEBIAN_FRONTEND=noninteractive\n" +
		"RUN apt-get update && apt-get install -y --no-install-recommends hello\n"})
	dir := filepath.Join(work, "oci")
	mustRun(t, "--root", root, "build", "--progress", "plain", "-t", "hello", "-o", "type=oci,dest="+dir, ctxDir)
	out := filepath.Join(work, "inspect.json")
	mustRun(t, "--root", root, "inspect", "--format", "json", "-o", out, "oci:"+dir)
	v := readReport(t, out).Variants[0]
	checkExactSizes(t, v, dir)
	last := len(v.Layers) - 1
	lists := findGroup(v, "apt-lists")
	if lists == nil || lists.Layer != last || lists.Bytes < 1<<20 {
		t.Errorf("apt-lists waste %+v, want over 1MiB in layer %d (the RUN)", lists, last)
	}
	// The suggestion names the RUN (from the image history) and its fix.
	var apt *report.Suggestion
	for i, s := range v.Suggestions {
		if s.Kind == "package-cache" && s.Rule == "apt-lists" {
			apt = &v.Suggestions[i]
		}
	}
	if apt == nil || lists == nil || apt.Layer != last || apt.Bytes != lists.Bytes || !strings.Contains(apt.Step, "apt-get install -y --no-install-recommends hello") ||
		!strings.Contains(apt.Advice, "rm -rf /var/lib/apt/lists/*") {
		t.Errorf("apt-lists suggestion %+v, want the RUN of layer %d and the apt-lists waste %+v", apt, last, lists)
	}
	if v.Packages == nil || v.Packages.Manager != "dpkg" || v.Packages.Count < 50 {
		t.Fatalf("packages: %+v", v.Packages)
	}
	found := false
	for _, p := range v.Packages.List {
		if p.Name == "hello" {
			found = p.Layer == last && p.Bytes > 0
		}
	}
	if !found {
		t.Errorf("package hello not attributed to layer %d", last)
	}
	// The local tag gives the same figures.
	mustRun(t, "--root", root, "inspect", "--format", "json", "-o", out+".local", "hello")
	if lv := readReport(t, out+".local").Variants[0]; lv.Total != v.Total || lv.Waste.Bytes != v.Waste.Bytes {
		t.Errorf("local tag: %+v waste %d; OCI layout: %+v waste %d", lv.Total, lv.Waste.Bytes, v.Total, v.Waste.Bytes)
	}
	html := filepath.Join(work, "report.html")
	mustRun(t, "--root", root, "inspect", "--format", "html", "-o", html, "hello")
	checkHTML(t, html)
}

// checkHTML opens the report in headless Chromium: no console errors, and
// the screenshot has more than a few colours.
func checkHTML(t *testing.T, file string) {
	t.Helper()
	data, _ := os.ReadFile(file)
	for _, bad := range []string{"http://", "https://", "<script src", "<link"} {
		if bytes.Contains(data, []byte(bad)) {
			t.Errorf("HTML report refers to %q: it must be self-contained", bad)
		}
	}
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (hack/apt-packages.txt)")
		}
		t.Skip("chromium not installed: skipping the browser check")
	}
	shot := filepath.Join(t.TempDir(), "shot.png")
	cmd := exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir="+t.TempDir(), "--enable-logging=stderr", "--v=0",
		"--screenshot="+shot, "--window-size=1280,900", "file://"+file)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium: %v\n%s", err, stderr.String())
	}
	for _, line := range strings.Split(stderr.String(), "\n") {
		if strings.Contains(line, "Uncaught") || (strings.Contains(line, "CONSOLE") && strings.Contains(line, "rror")) {
			t.Errorf("console error: %s", line)
		}
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	colours := map[[4]uint32]bool{}
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y += 3 {
		for x := b.Min.X; x < b.Max.X; x += 3 {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}] = true
		}
	}
	if len(colours) < 8 {
		t.Errorf("screenshot has %d colours: blank?", len(colours))
	}
}

// TestCompareAnswerAndCachedTimes runs compare twice: the table report
// opens with the answer, and on the second run every step (and so each
// variant's build time) says "cached" instead of a cache hit's 0s.
func TestCompareAnswerAndCachedTimes(t *testing.T) {
	root, ctxDir := t.TempDir(), t.TempDir()
	mustRun(t, "--root", root, "import", "-t", "busybox", testbase.Busybox(t))
	mustRun(t, "--root", root, "import", "-t", "bb2", "--change", "ENV X=1", testbase.Busybox(t))
	writeTree(t, ctxDir, map[string]string{"Dockerfile": "FROM busybox\nCOPY f.txt /app/\nCOPY g.txt /app/\n",
		"f.txt": strings.Repeat("f", 3000), "g.txt": "g"})
	args := []string{"--root", root, "compare", "--progress", "plain", "--base", "busybox", "--base", "bb2", ctxDir}
	first := mustRun(t, args...).stdout
	if !strings.HasPrefix(first, "Smallest: ") || !strings.Contains(first, "busybox: ") || !strings.Contains(first, "bb2: ") {
		t.Errorf("report does not open with the answer:\n%s", first)
	}
	if strings.Count(first, "cached") != 0 {
		t.Errorf("first build shows cached steps:\n%s", first)
	}
	second := mustRun(t, args...).stdout
	var steps []string
	for _, l := range strings.Split(second, "\n") {
		if strings.HasPrefix(l, "COPY ") || strings.HasPrefix(l, "busybox ") || strings.HasPrefix(l, "bb2 ") {
			steps = append(steps, l)
		}
	}
	if len(steps) != 4 {
		t.Fatalf("want 2 summary rows and 2 step rows, got %q in\n%s", steps, second)
	}
	for _, l := range steps {
		if !strings.HasSuffix(strings.TrimSpace(l), "cached") || strings.Contains(l, " 0s") {
			t.Errorf("second run row does not say cached: %q", l)
		}
	}
}

// TestDemoCompare builds examples/demo (what `make demo` compares) on
// busybox and Debian minbase: the report opens with the answer, then the
// suggestions, tied to the demo's Dockerfile lines: COPY --chown instead of
// the chown of the copied site, and a slim base for Debian's docs.
func TestDemoCompare(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("RUN needs root")
	}
	root, work := t.TempDir(), t.TempDir()
	mustRun(t, "--root", root, "import", "-t", "busybox", testbase.Busybox(t))
	mustRun(t, "--root", root, "import", "-t", "debian", testbase.Debian(t))
	demo := filepath.Join(testbase.RepoRoot(t), "examples", "demo")
	args := []string{"--root", root, "compare", "--progress", "plain", "--base-arg", "BASE", "--base", "busybox", "--base", "debian"}
	out := filepath.Join(work, "report.json")
	mustRun(t, append(args, "--format", "json", "-o", out, demo)...)
	r := readReport(t, out)
	for _, v := range r.Variants {
		var chown *report.Suggestion
		for i, s := range v.Suggestions {
			if s.Kind == "chmod" {
				chown = &v.Suggestions[i]
			}
		}
		if chown == nil || chown.Location != "Dockerfile:12" || chown.LaterLocation != "Dockerfile:14" ||
			chown.Files != 2 || chown.Bytes != int64(len("hello from ibuild\n")+len("every step has a size\n")) ||
			!strings.Contains(chown.Advice, "COPY --chmod/--chown") {
			t.Errorf("%s: chown suggestion %+v, want the two site files of Dockerfile:12 rewritten by Dockerfile:14", v.Name, chown)
		}
	}
	deb := r.Variants[1].Suggestions[0]
	if deb.Kind != "docs" || !deb.Base || deb.Bytes < 1<<20 || !strings.Contains(deb.Advice, "slim base") {
		t.Errorf("debian's largest suggestion %+v, want the base's docs", deb)
	}
	text := mustRun(t, append(args, demo)...).stdout
	// The chown suggestion is the same for both: listed once, for every variant.
	a, s, tb := strings.Index(text, "Smallest: busybox"), strings.Index(text, "Suggestions for every variant"), strings.Index(text, "SUMMARY")
	if a != 0 || s < a || tb < s || strings.Count(text, "(COPY --chmod/--chown)") != 1 || !strings.Contains(text, "No other suggestions for busybox.") {
		t.Errorf("answer at %d, suggestions at %d, tables at %d, chown suggestion not once:\n%s", a, s, tb, text)
	}
}
