package report

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
	"time"

	units "github.com/docker/go-units"
)

// table is one titled table of a rendered report, shared by the text,
// Markdown and HTML renderers.
type table struct {
	title  string
	note   string
	header []cell
	rows   [][]cell
	right  []bool // right-align column
	// empty is the sentence rendered instead of the table when it has no
	// rows (a header row over nothing reads as missing data).
	empty string
}

// cell is one table cell. Text and Markdown print text; HTML prints short
// (when set) with title on hover, and a size in the report's one unit with
// the exact bytes on hover.
type cell struct {
	text  string
	short string
	title string
	// isSize cells show bytes, between prefix and suffix.
	isSize         bool
	bytes          int64
	prefix, suffix string
}

// txt is a plain cell.
func txt(s string) cell { return cell{text: s} }

// cut is a cell of s shortened to n characters, whole on hover in HTML.
func cut(s string, n int) cell {
	c := cell{text: truncate(s, n)}
	if c.text != s {
		c.title = s
	}
	return c
}

// nameCell is a variant name (plus a suffix such as " compressed"): whole
// in text and Markdown, shortened (short[name]) in HTML with the full name
// on hover.
func nameCell(short map[string]string, name, suffix string) cell {
	c := cell{text: name + suffix}
	if sn := short[name]; sn != "" && sn != name {
		c.short, c.title = sn+suffix, name
	}
	return c
}

// sizeCell is n bytes between prefix and suffix.
func sizeCell(prefix string, n int64, suffix string) cell {
	return cell{text: prefix + size(n) + suffix, isSize: true, bytes: n, prefix: prefix, suffix: suffix}
}

// maxName is the longest variant name HTML shows whole.
const maxName = 24

// shortName shortens a long variant name in the middle, keeping its start
// and its tag end: "registry.e…ild:2026-12-01".
func shortName(s string) string {
	r := []rune(s)
	if len(r) <= maxName {
		return s
	}
	return string(r[:10]) + "…" + string(r[len(r)-13:])
}

// shortNames maps each variant name to its HTML form: whole when short,
// else the part that tells it from the others ("…s-api-variant-2:2026-1…"),
// or its start and end when that part is long too.
func shortNames(vs []*Variant) map[string]string {
	out := map[string]string{}
	var names [][]rune
	for _, v := range vs {
		names = append(names, []rune(v.Name))
	}
	p, sfx := commonEnds(names)
	for i, r := range names {
		switch d := len(r) - p - sfx; {
		case len(r) <= maxName:
			out[vs[i].Name] = vs[i].Name
		case len(names) < 2 || d > maxName-4:
			out[vs[i].Name] = shortName(vs[i].Name)
		default:
			w := maxName - 2
			start := max(0, min(p-(w-d)/2, len(r)-w))
			sn := string(r[start : start+w])
			if start > 0 {
				sn = "…" + sn
			}
			if start+w < len(r) {
				sn += "…"
			}
			out[vs[i].Name] = sn
		}
	}
	return out
}

// commonEnds is the length of the prefix and of the suffix all names share
// (not overlapping in the shortest).
func commonEnds(names [][]rune) (prefix, suffix int) {
	if len(names) == 0 {
		return 0, 0
	}
	shortest := len(names[0])
	for _, n := range names {
		shortest = min(shortest, len(n))
	}
	same := func(at func(n []rune) rune) bool {
		for _, n := range names[1:] {
			if at(n) != at(names[0]) {
				return false
			}
		}
		return true
	}
	for prefix < shortest && same(func(n []rune) rune { return n[prefix] }) {
		prefix++
	}
	for suffix < shortest-prefix && same(func(n []rune) rune { return n[len(n)-1-suffix] }) {
		suffix++
	}
	return prefix, suffix
}

// size formats a byte count as "1.09MB (1088058)".
func size(n int64) string {
	return units.HumanSizeWithPrecision(float64(n), 3) + " (" + strconv.FormatInt(n, 10) + ")"
}

// plus is the bytes a step added.
func plus(n int64) cell {
	if n == 0 {
		return txt("0")
	}
	return sizeCell("+", n, "")
}

func dur(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(10 * time.Millisecond).String()
}

// stepTime is the time a step took when it ran, or "cached" for a cache
// hit (whose 0s says nothing about the step).
func stepTime(s *Step) string {
	if s.Cached {
		return "cached"
	}
	return dur(s.Duration)
}

// buildTime is the variant's build time, or "cached" when every step was
// a cache hit.
func buildTime(v *Variant) string {
	if len(v.Steps) > 0 && !slices.ContainsFunc(v.Steps, func(s *Step) bool { return !s.Cached }) {
		return "cached"
	}
	return dur(v.BuildTime)
}

// built says whether a variant was built here (its steps have Dockerfile
// locations and times), not read from an image's history.
func built(v *Variant) bool {
	return slices.ContainsFunc(v.Steps, func(s *Step) bool { return s.Location != "" })
}

// wasteShare is the waste as a share of all file content the layers wrote
// (WasteShare), "-" when there is none.
func wasteShare(v *Variant) cell {
	if v.Waste.Bytes == 0 {
		return txt("-")
	}
	return sizeCell("", v.Waste.Bytes, ", "+share(v.WasteShare())+" of content")
}

// heads makes header cells.
func heads(s ...string) []cell {
	out := make([]cell, len(s))
	for i, h := range s {
		out[i] = txt(h)
	}
	return out
}

// tables lays the report out as tables.
func (r *Report) tables() []table {
	ts := []table{r.summaryTable(), r.stepTable()}
	if len(r.Variants) > 1 {
		sh := table{title: "Shared between variants", header: heads("layers", "compressed bytes", "uncompressed bytes"),
			right: []bool{true, true, true}, empty: "The variants share no layer."}
		if r.Shared.Layers > 0 {
			sh.rows = [][]cell{{txt(strconv.Itoa(r.Shared.Layers)), sizeCell("", r.Shared.Compressed, ""), sizeCell("", r.Shared.Uncompressed, "")}}
		}
		ts = append(ts, sh)
	}
	for _, v := range r.Variants {
		if r.Kind == "inspect" {
			ts = append(ts, layerTable(v))
		}
		ts = append(ts, wasteTable(v))
		if v.Packages != nil {
			ts = append(ts, packageTable(v, r.Kind == "inspect"))
		}
	}
	return ts
}

func (r *Report) summaryTable() table {
	t := table{title: "Summary",
		note: "compressed = layer blobs as listed in the manifest; uncompressed = tar stream lengths; " +
			"waste = file content bytes deleted, overwritten or matching a waste rule, and its share of all content the layers wrote",
		header: heads("variant", "base compressed", "base uncompressed", "total compressed", "total uncompressed",
			"layers", "files", "waste", "packages", "build time"),
		right: []bool{false, true, true, true, true, true, true, true, true, true},
		empty: "No variants."}
	short := shortNames(r.Variants)
	for _, v := range r.Variants {
		pk := txt("-")
		if v.Packages != nil {
			pk = sizeCell(fmt.Sprintf("%d %s, ", v.Packages.Count, v.Packages.Manager), v.Packages.Bytes, "")
		}
		t.rows = append(t.rows, []cell{nameCell(short, v.Name, ""), sizeCell("", v.Base.Compressed, ""), sizeCell("", v.Base.Uncompressed, ""),
			sizeCell("", v.Total.Compressed, ""), sizeCell("", v.Total.Uncompressed, ""), txt(strconv.Itoa(v.Total.Layers)),
			txt(strconv.Itoa(v.Files)), wasteShare(v), pk, txt(buildTime(v))})
	}
	return t
}

// stepTable shows each aligned row with every variant's added bytes.
func (r *Report) stepTable() table {
	t := table{title: "Steps", note: "bytes each step added: compressed (manifest) / uncompressed (tar stream)",
		header: heads("instruction"), right: []bool{false}, empty: "No steps above the base."}
	timed := make([]bool, len(r.Variants))
	short := shortNames(r.Variants)
	for i, v := range r.Variants {
		t.header = append(t.header, nameCell(short, v.Name, " compressed"), nameCell(short, v.Name, " uncompressed"), nameCell(short, v.Name, " waste"))
		t.right = append(t.right, true, true, true)
		if timed[i] = built(v); timed[i] {
			t.header = append(t.header, nameCell(short, v.Name, " time"))
			t.right = append(t.right, true)
		}
	}
	for _, row := range r.Rows {
		cells := []cell{cut(row.Instruction, 80)}
		for vi, c := range row.Cells {
			if c < 0 {
				cells = append(cells, txt(""), txt(""), txt(""))
				if timed[vi] {
					cells = append(cells, txt(""))
				}
				continue
			}
			s := r.Variants[vi].Steps[c]
			cells = append(cells, plus(s.Compressed), plus(s.Uncompressed), wasteCell(s.WasteBytes))
			if timed[vi] {
				cells = append(cells, txt(stepTime(s)))
			}
		}
		t.rows = append(t.rows, cells)
	}
	return t
}

func wasteCell(n int64) cell {
	if n == 0 {
		return txt("-")
	}
	return sizeCell("", n, "")
}

func layerTable(v *Variant) table {
	t := table{title: "Layers of " + v.Name,
		header: heads("#", "digest", "compressed", "uncompressed", "files", "waste", "created by"),
		right:  []bool{true, false, true, true, true, true, false},
		empty:  v.Name + " has no layers."}
	for _, l := range v.Layers {
		t.rows = append(t.rows, []cell{txt(strconv.Itoa(l.Index)), {text: shortDigest(l.Digest), title: l.Digest}, sizeCell("", l.Compressed, ""),
			sizeCell("", l.Uncompressed, ""), txt(strconv.Itoa(l.Files)), wasteCell(l.WasteBytes), cut(l.CreatedBy, 70)})
	}
	return t
}

func wasteTable(v *Variant) table {
	t := table{title: "Waste in " + v.Name,
		note: fmt.Sprintf("%s shadowed (deleted or overwritten by a later layer) + %s matching waste rules = %s",
			size(v.Waste.Shadowed), size(v.Waste.Rules), size(v.Waste.Bytes)),
		header: heads("kind", "rule", "layer", "step", "bytes", "files", "largest"),
		right:  []bool{false, false, true, false, true, true, false},
		empty:  "No waste found in " + v.Name + ": nothing deleted or overwritten by a later layer, no file matching a waste rule."}
	for i, g := range v.Waste.Groups {
		if i == 15 {
			t.rows = append(t.rows, []cell{txt(fmt.Sprintf("... %d more groups", len(v.Waste.Groups)-i)), {}, {}, {}, {}, {}, {}})
			break
		}
		ex := ""
		if len(g.Examples) > 0 {
			ex = g.Examples[0]
		}
		t.rows = append(t.rows, []cell{txt(g.Kind), txt(g.Rule), txt(strconv.Itoa(g.Layer)), cut(g.Step, 50), sizeCell("", g.Bytes, ""),
			txt(strconv.Itoa(g.Files)), cut(ex, 60)})
	}
	return t
}

func packageTable(v *Variant, all bool) table {
	p := v.Packages
	t := table{title: "Packages in " + v.Name,
		note:   fmt.Sprintf("%d %s packages from %s, %s installed", p.Count, p.Manager, p.Database, size(p.Bytes)),
		header: heads("package", "version", "installed bytes", "layer"),
		right:  []bool{false, false, true, true}}
	for _, pk := range p.List {
		if !all && pk.Layer >= 0 && pk.Layer < len(v.Layers) && v.Layers[pk.Layer].Base {
			continue // compare: only packages the build added
		}
		t.rows = append(t.rows, []cell{txt(pk.Name), txt(pk.Version), sizeCell("", pk.Bytes, ""), txt(strconv.Itoa(pk.Layer))})
	}
	if !all {
		t.note += "; listed: packages added above the base"
		t.empty = "No packages added above the base in " + v.Name + " (" + t.note[:strings.Index(t.note, ";")] + ")."
	} else {
		t.empty = "No packages in " + v.Name + "'s " + p.Database + "."
	}
	return t
}

func shortDigest(d string) string {
	_, hex, _ := strings.Cut(d, ":")
	if len(hex) > 12 {
		hex = hex[:12]
	}
	return hex
}

func truncate(s string, n int) string {
	if r := []rune(s); len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}
