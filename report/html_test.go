package report

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"
)

var keep = flag.String("keep", "", "write TestHTMLFitsWindow's page and screenshot to this directory")

// wideReport compares four variants with long names, built steps (a time
// column each: 17 columns in the Steps table) and a long unbroken
// instruction.
func wideReport(t *testing.T) *Report {
	t.Helper()
	var vs []*Variant
	specs := sampleSpecs()
	specs[1].createdBy = "RUN /bin/sh -c /opt/toolchain/bin/install-everything-we-need-for-the-build--with-a-very-long-flag=/usr/local/share/some/deep/path/that/does/not/break # buildkit"
	for i := range 4 {
		img, _ := testImage(t, specs)
		v, err := Analyze(context.Background(), img, nil)
		if err != nil {
			t.Fatal(err)
		}
		var steps []BuildStep
		for li := 1; li < len(v.Layers); li++ {
			steps = append(steps, BuildStep{Instruction: v.Layers[li].CreatedBy, Location: fmt.Sprintf("Dockerfile:%d", li+1),
				Duration: time.Duration(li) * time.Second, Layer: li, LayerDigest: v.Layers[li].Digest})
		}
		if err := v.SetBuildSteps(steps); err != nil {
			t.Fatal(err)
		}
		v.Name = fmt.Sprintf("registry.example.com/platform-team/services/payments-api-variant-%d:2026-12-01-debian-bookworm-slim", i)
		vs = append(vs, v)
	}
	return New("compare", vs, nil)
}

// TestHTMLCells checks the HTML cells: sizes in one unit with the exact
// bytes on hover, long names shortened with the whole name on hover.
func TestHTMLCells(t *testing.T) {
	r := wideReport(t)
	var buf bytes.Buffer
	if err := Render(&buf, r, "html"); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	sizes := regexp.MustCompile(`<span title="(\d+) bytes">([^<]*)</span>`).FindAllStringSubmatch(out, -1)
	if len(sizes) < 50 {
		t.Fatalf("%d size cells with exact bytes on hover, want many:\n%s", len(sizes), out)
	}
	u := pickUnit(r)
	for _, m := range sizes {
		n, _ := strconv.ParseInt(m[1], 10, 64)
		if !strings.Contains(m[2], u.in(n)) || !strings.Contains(m[2], " "+u.name) {
			t.Errorf("size cell %q for %d bytes is not in %s", m[2], n, u.name)
		}
	}
	if u.name != "kB" || u.in(5000) != "5.00 kB" || u.in(3) != "<0.01 kB" || u.in(0) != "0 kB" {
		t.Errorf("unit %s: 5000 = %q, 3 = %q", u.name, u.in(5000), u.in(3))
	}
	full := r.Variants[2].Name
	short := shortNames(r.Variants)
	if sn := short[full]; len([]rune(sn)) > maxName || !strings.Contains(sn, "variant-2") ||
		!strings.Contains(out, `<span title="`+full+`">`+sn+` compressed</span>`) {
		t.Errorf("no shortened header %q (that tells variant-2 apart) with %q on hover", sn, full)
	}
	for _, c := range []struct{ names, want []string }{
		{[]string{"alpine:3.20.3", "debian:bookworm"}, []string{"alpine:3.20.3", "debian:bookworm"}},
		{[]string{"registry.example.com/team/app-one-long-name:v1", "registry.example.com/team/app-one-long-name:v2"},
			[]string{"…m/app-one-long-name:v1", "…m/app-one-long-name:v2"}},
		{[]string{"registry.example.com/team/app-one-long-name:v1"}, []string{"registry.e…-long-name:v1"}},
	} {
		var vs []*Variant
		for _, n := range c.names {
			vs = append(vs, &Variant{Name: n})
		}
		sn := shortNames(vs)
		for i, n := range c.names {
			if sn[n] != c.want[i] {
				t.Errorf("shortNames(%q)[%q] = %q, want %q", c.names, n, sn[n], c.want[i])
			}
		}
	}
	if strings.Contains(out, "<td>"+full) || strings.Contains(out, "<th>"+full) {
		t.Errorf("the full name %q is shown in a cell instead of on hover", full)
	}
	// Text and Markdown keep the exact bytes in the size cells.
	buf.Reset()
	if err := Render(&buf, r, "markdown"); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(buf.String(), "| "+full+" | "+size(r.Variants[0].Base.Compressed)+" |") {
		t.Errorf("Markdown summary lacks the full name and exact bytes:\n%s", buf.String())
	}
}

// TestHTMLFitsWindow renders a wide report and loads it in headless
// Chromium at 1280 px: the page must not scroll sideways (wide tables
// scroll inside their box). As a control, the same page without the
// scrolling box must overflow, so the probe measures what it claims. The
// screenshot is kept in the test's temporary directory.
func TestHTMLFitsWindow(t *testing.T) {
	bin, err := exec.LookPath("chromium")
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatal("chromium is not installed (hack/apt-packages.txt)")
		}
		t.Skip("chromium not installed: skipping the 1280 px layout check")
	}
	var buf bytes.Buffer
	if err := Render(&buf, wideReport(t), "html"); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	if *keep != "" {
		dir = *keep
	}
	page := buf.String()
	if w, cw := scrollWidth(t, bin, dir, page); cw != 1280 || w > 1280 {
		t.Errorf("page scrollWidth %d in a %d px window: the page scrolls sideways", w, cw)
	}
	control := strings.Replace(page, "overflow-x:auto", "overflow-x:visible", 1)
	if w, _ := scrollWidth(t, bin, dir, control); w <= 1280 {
		t.Errorf("control page without the scrolling box is %d px wide: the report is not wide enough to test", w)
	}
	file := filepath.Join(dir, "report.html")
	if err := os.WriteFile(file, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	shot := filepath.Join(dir, "report-1280.png")
	chromium(t, bin, dir, "--screenshot="+shot, "file://"+file)
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	if b := img.Bounds(); b.Dx() != 1280 {
		t.Errorf("screenshot is %d px wide, want 1280", b.Dx())
	}
	t.Logf("screenshot at 1280 px: %s", shot)
}

// scrollWidth loads page with a script that writes the document's
// scrollWidth and clientWidth into the DOM, and reads them back.
func scrollWidth(t *testing.T, bin, dir, page string) (scroll, client int) {
	t.Helper()
	probe := "<script>document.body.setAttribute('data-width', document.documentElement.scrollWidth + ' ' + document.documentElement.clientWidth)</script>\n</body>"
	file := filepath.Join(dir, "probe.html")
	if err := os.WriteFile(file, []byte(strings.Replace(page, "</body>", probe, 1)), 0o644); err != nil {
		t.Fatal(err)
	}
	dom := chromium(t, bin, dir, "--dump-dom", "file://"+file)
	m := regexp.MustCompile(`data-width="(\d+) (\d+)"`).FindStringSubmatch(dom)
	if m == nil {
		t.Fatalf("no width in Chromium's DOM:\n%.500s", dom)
	}
	scroll, _ = strconv.Atoi(m[1])
	client, _ = strconv.Atoi(m[2])
	return scroll, client
}

// chromium runs headless Chromium at 1280×900 with args and returns its
// stdout.
func chromium(t *testing.T, bin, dir string, args ...string) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, append([]string{"--headless", "--disable-gpu", "--no-sandbox", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--user-data-dir=" + filepath.Join(dir, "chromium"), "--window-size=1280,900", "--hide-scrollbars"}, args...)...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("chromium %s: %v\n%s", strings.Join(args, " "), err, stderr.String())
	}
	return stdout.String()
}
