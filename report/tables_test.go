package report

import (
	"bytes"
	"strings"
	"testing"
	"time"
)

// TestWasteShareAgreesWithWaste checks the figure printed beside waste: 0
// exactly when nothing is wasted, and the waste over all content written
// otherwise, whatever the waste's kind (dive's efficiency is 100% for the
// alpine sample although it carries 1100 bytes of waste-rule matches).
func TestWasteShareAgreesWithWaste(t *testing.T) {
	r := sampleReport(t)
	for _, v := range r.Variants {
		var all int64
		for _, l := range v.Layers {
			all += l.FileBytes
		}
		want := float64(v.Waste.Bytes) / float64(all)
		if got := v.WasteShare(); got != want || got <= 0 {
			t.Errorf("%s: waste share %v, want %v (%d of %d bytes)", v.Name, got, want, v.Waste.Bytes, all)
		}
	}
	for f, want := range map[float64]string{0: "0.0%", 0.0004: "<0.1%", 0.0005: "0.1%", 0.742: "74.2%"} {
		if got := share(f); got != want {
			t.Errorf("share(%v) = %q, want %q", f, got, want)
		}
	}
	if (&Variant{}).WasteShare() != 0 {
		t.Error("an empty variant has a non-zero waste share")
	}
	var buf bytes.Buffer
	if err := Render(&buf, r, "table"); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(buf.String(), "EFFICIENCY") || !strings.Contains(buf.String(), "1.1kB (1100), ") {
		t.Errorf("summary shows efficiency or lacks the waste share:\n%s", buf.String())
	}
}

// TestEmptyTableIsASentence renders a report whose variant has no steps,
// no waste and no added packages in every format: each empty table is one
// sentence, without a header row.
func TestEmptyTableIsASentence(t *testing.T) {
	r := sampleReport(t)
	r.Variants[1].Waste = Waste{Groups: []WasteGroup{}}
	r.Variants[1].Steps = nil
	r.Rows = []Row{}
	r.Shared = Shared{Digests: []string{}}
	for _, f := range []string{"table", "markdown", "html"} {
		var buf bytes.Buffer
		if err := Render(&buf, r, f); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, want := range []string{"No steps above the base.", "No waste found in alpine:", "No packages added above the base in alpine",
			"The variants share no layer."} {
			if !strings.Contains(out, want) {
				t.Errorf("%s: missing %q:\n%s", f, want, out)
			}
		}
		for _, header := range []string{"Waste in alpine", "WASTE IN ALPINE", "debian compressed", "DEBIAN COMPRESSED", "compressed bytes", "COMPRESSED BYTES"} {
			if strings.Contains(out, header) {
				t.Errorf("%s: empty table still has its header %q:\n%s", f, header, out)
			}
		}
	}
}

// TestStepTimes checks that a cache hit says "cached" rather than 0s, a
// step that ran shows its time, and a build of cache hits only is "cached".
func TestStepTimes(t *testing.T) {
	r := sampleReport(t)
	v := r.Variants[0]
	for i, s := range v.Steps {
		s.Location = "Dockerfile:" + string(rune('2'+i))
		s.Cached = i != 0
	}
	v.Steps[0].Duration = 1500 * time.Millisecond
	v.BuildTime = 2 * time.Second
	tb := r.stepTable()
	col := -1
	for i, h := range tb.header {
		if h.text == "debian time" {
			col = i
		}
	}
	if col < 0 {
		t.Fatalf("no time column for the built variant: %q", texts(tb.header))
	}
	if got := tb.rows[0][col].text; got != "1.5s" {
		t.Errorf("step that ran: time %q, want 1.5s", got)
	}
	for _, row := range tb.rows[1:] {
		if row[col].text != "cached" {
			t.Errorf("cache hit %q: time %q, want cached", row[0].text, row[col].text)
		}
	}
	for _, h := range tb.header {
		if h.text == "alpine time" {
			t.Error("an image read from history got a time column")
		}
	}
	if got := buildTime(v); got != "2s" {
		t.Errorf("build time %q, want 2s", got)
	}
	v.Steps[0].Cached = true
	if got := buildTime(v); got != "cached" {
		t.Errorf("all-cached build time %q, want cached", got)
	}
}
