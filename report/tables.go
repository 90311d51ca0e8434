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
	header []string
	rows   [][]string
	right  []bool // right-align column
	// empty is the sentence rendered instead of the table when it has no
	// rows (a header row over nothing reads as missing data).
	empty string
}

// size formats a byte count as "1.09MB (1088058)".
func size(n int64) string {
	return units.HumanSizeWithPrecision(float64(n), 3) + " (" + strconv.FormatInt(n, 10) + ")"
}

// plus formats the bytes a step added.
func plus(n int64) string {
	if n == 0 {
		return "0"
	}
	return "+" + size(n)
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
func wasteShare(v *Variant) string {
	if v.Waste.Bytes == 0 {
		return "-"
	}
	return fmt.Sprintf("%s, %.1f%% of content", size(v.Waste.Bytes), v.WasteShare()*100)
}

// tables lays the report out as tables.
func (r *Report) tables() []table {
	ts := []table{r.summaryTable(), r.stepTable()}
	if len(r.Variants) > 1 {
		ts = append(ts, table{title: "Shared between variants", header: []string{"layers", "compressed bytes", "uncompressed bytes"},
			rows:  [][]string{{strconv.Itoa(r.Shared.Layers), size(r.Shared.Compressed), size(r.Shared.Uncompressed)}},
			right: []bool{true, true, true}})
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
		header: []string{"variant", "base compressed", "base uncompressed", "total compressed", "total uncompressed",
			"layers", "files", "waste", "packages", "build time"},
		right: []bool{false, true, true, true, true, true, true, true, true, true},
		empty: "No variants."}
	for _, v := range r.Variants {
		pk := "-"
		if v.Packages != nil {
			pk = fmt.Sprintf("%d %s, %s", v.Packages.Count, v.Packages.Manager, size(v.Packages.Bytes))
		}
		t.rows = append(t.rows, []string{v.Name, size(v.Base.Compressed), size(v.Base.Uncompressed),
			size(v.Total.Compressed), size(v.Total.Uncompressed), strconv.Itoa(v.Total.Layers),
			strconv.Itoa(v.Files), wasteShare(v), pk, buildTime(v)})
	}
	return t
}

// stepTable shows each aligned row with every variant's added bytes.
func (r *Report) stepTable() table {
	t := table{title: "Steps", note: "bytes each step added: compressed (manifest) / uncompressed (tar stream)",
		header: []string{"instruction"}, right: []bool{false}, empty: "No steps above the base."}
	timed := make([]bool, len(r.Variants))
	for i, v := range r.Variants {
		t.header = append(t.header, v.Name+" compressed", v.Name+" uncompressed", v.Name+" waste")
		t.right = append(t.right, true, true, true)
		if timed[i] = built(v); timed[i] {
			t.header = append(t.header, v.Name+" time")
			t.right = append(t.right, true)
		}
	}
	for _, row := range r.Rows {
		cells := []string{truncate(row.Instruction, 80)}
		for vi, c := range row.Cells {
			if c < 0 {
				cells = append(cells, "", "", "")
				if timed[vi] {
					cells = append(cells, "")
				}
				continue
			}
			s := r.Variants[vi].Steps[c]
			cells = append(cells, plus(s.Compressed), plus(s.Uncompressed), wasteCell(s.WasteBytes))
			if timed[vi] {
				cells = append(cells, stepTime(s))
			}
		}
		t.rows = append(t.rows, cells)
	}
	return t
}

func wasteCell(n int64) string {
	if n == 0 {
		return "-"
	}
	return size(n)
}

func layerTable(v *Variant) table {
	t := table{title: "Layers of " + v.Name,
		header: []string{"#", "digest", "compressed", "uncompressed", "files", "waste", "created by"},
		right:  []bool{true, false, true, true, true, true, false},
		empty:  v.Name + " has no layers."}
	for _, l := range v.Layers {
		t.rows = append(t.rows, []string{strconv.Itoa(l.Index), shortDigest(l.Digest), size(l.Compressed),
			size(l.Uncompressed), strconv.Itoa(l.Files), wasteCell(l.WasteBytes), truncate(l.CreatedBy, 70)})
	}
	return t
}

func wasteTable(v *Variant) table {
	t := table{title: "Waste in " + v.Name,
		note: fmt.Sprintf("%s shadowed (deleted or overwritten by a later layer) + %s matching waste rules = %s",
			size(v.Waste.Shadowed), size(v.Waste.Rules), size(v.Waste.Bytes)),
		header: []string{"kind", "rule", "layer", "step", "bytes", "files", "largest"},
		right:  []bool{false, false, true, false, true, true, false},
		empty:  "No waste found in " + v.Name + ": nothing deleted or overwritten by a later layer, no file matching a waste rule."}
	for i, g := range v.Waste.Groups {
		if i == 15 {
			t.rows = append(t.rows, []string{fmt.Sprintf("... %d more groups", len(v.Waste.Groups)-i), "", "", "", "", "", ""})
			break
		}
		ex := ""
		if len(g.Examples) > 0 {
			ex = g.Examples[0]
		}
		t.rows = append(t.rows, []string{g.Kind, g.Rule, strconv.Itoa(g.Layer), truncate(g.Step, 50), size(g.Bytes),
			strconv.Itoa(g.Files), truncate(ex, 60)})
	}
	return t
}

func packageTable(v *Variant, all bool) table {
	p := v.Packages
	t := table{title: "Packages in " + v.Name,
		note:   fmt.Sprintf("%d %s packages from %s, %s installed", p.Count, p.Manager, p.Database, size(p.Bytes)),
		header: []string{"package", "version", "installed bytes", "layer"},
		right:  []bool{false, false, true, true}}
	for _, pk := range p.List {
		if !all && pk.Layer >= 0 && pk.Layer < len(v.Layers) && v.Layers[pk.Layer].Base {
			continue // compare: only packages the build added
		}
		t.rows = append(t.rows, []string{pk.Name, pk.Version, size(pk.Bytes), strconv.Itoa(pk.Layer)})
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
