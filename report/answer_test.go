package report

import (
	"bytes"
	"strings"
	"testing"
)

// TestAnswerOpensReport checks that every format opens with the answer:
// the smallest variant, by how much in bytes and as a ratio, and each
// variant's base / added / waste split, all computed from the sample.
func TestAnswerOpensReport(t *testing.T) {
	r := sampleReport(t)
	deb, alp := r.Variants[0], r.Variants[1]
	if alp.Total.Compressed >= deb.Total.Compressed {
		t.Fatalf("sample changed: alpine %d >= debian %d", alp.Total.Compressed, deb.Total.Compressed)
	}
	want := []string{
		"Smallest: alpine, " + size(alp.Total.Compressed) + " compressed; debian is " +
			size(deb.Total.Compressed-alp.Total.Compressed) + " larger: " + size(deb.Total.Compressed) + ", " +
			ratio(deb.Total.Compressed, alp.Total.Compressed) + " alpine.",
		"debian: " + size(deb.Total.Compressed) + " compressed = base " + size(deb.Base.Compressed) +
			" + added " + size(deb.Total.Compressed-deb.Base.Compressed),
		"alpine: " + size(alp.Total.Compressed) + " compressed = base " + size(alp.Base.Compressed),
		"waste " + size(alp.Waste.Bytes) + " of file content",
	}
	if got := ratio(1181, 792); got != "1.49×" {
		t.Errorf("ratio(1181, 792) = %q", got)
	}
	for _, f := range []string{"table", "markdown", "html"} {
		var buf bytes.Buffer
		if err := Render(&buf, r, f); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: missing %q in\n%s", f, w, out)
			}
		}
		// The answer comes before the first table.
		if a, s := strings.Index(out, "Smallest:"), strings.Index(strings.ToLower(out), "summary"); a < 0 || s < 0 || a > s {
			t.Errorf("%s: answer at %d, summary at %d", f, a, s)
		}
	}
	// The base/added/waste split adds up.
	var baseWaste int64
	for _, l := range deb.Layers {
		if l.Base {
			baseWaste += l.WasteBytes
		}
	}
	if !strings.Contains(composition(deb), size(baseWaste)+" in the base and "+size(deb.Waste.Bytes-baseWaste)+" added") {
		t.Errorf("composition %q lacks the waste split %d/%d", composition(deb), baseWaste, deb.Waste.Bytes-baseWaste)
	}
}

// TestAnswerEdgeCases: equal sizes, an uncompressed ranking that differs,
// a single variant (no "Smallest") and a variant without waste.
func TestAnswerEdgeCases(t *testing.T) {
	a := &Variant{Name: "a", Total: Sizes{Compressed: 100, Uncompressed: 900}}
	b := &Variant{Name: "b", Total: Sizes{Compressed: 100, Uncompressed: 500}}
	c := &Variant{Name: "c", Total: Sizes{Compressed: 250, Uncompressed: 400}}
	r := &Report{Kind: "compare", Variants: []*Variant{a, b, c}}
	got := r.smallest()
	for _, w := range []string{"Smallest: a, 100B (100) compressed", "b is the same size", "c is 150B (150) larger: 250B (250), 2.50× a",
		"Uncompressed, c is smallest: 400B (400) against 900B (900)."} {
		if !strings.Contains(got, w) {
			t.Errorf("smallest() = %q, missing %q", got, w)
		}
	}
	one := &Report{Kind: "inspect", Variants: []*Variant{a}}
	lines := one.answer()
	if len(lines) != 1 || strings.Contains(lines[0], "Smallest") || !strings.HasSuffix(lines[0], "; no waste.") {
		t.Errorf("inspect answer = %q", lines)
	}
}
