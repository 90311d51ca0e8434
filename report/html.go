package report

import (
	"fmt"
	"html"
	"io"
	"strings"
)

const css = `body{font-family:system-ui,sans-serif;margin:2em;color:#222;background:#fff}
table{border-collapse:collapse;margin:.5em 0 1.5em}th,td{border:1px solid #ccc;padding:3px 8px;font-size:13px}
th{background:#eef2f7;text-align:left}td.num{text-align:right;font-variant-numeric:tabular-nums}
.note{color:#555;font-size:13px}svg text{font-size:12px;font-family:system-ui,sans-serif}`

// palette colours the steps of the chart; the base is grey.
var palette = []string{"#4e79a7", "#f28e2b", "#e15759", "#76b7b2", "#59a14f", "#edc948", "#b07aa1", "#ff9da7", "#9c755f"}

const baseColour = "#bab0ac"

func renderHTML(w io.Writer, r *Report) error {
	var b strings.Builder
	b.WriteString("<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n")
	fmt.Fprintf(&b, "<title>ibuild %s report</title>\n<style>%s</style>\n</head>\n<body>\n", r.Kind, css)
	fmt.Fprintf(&b, "<h1>ibuild %s report</h1>\n<ul class=\"answer\">\n", r.Kind)
	for _, l := range r.answer() {
		fmt.Fprintf(&b, "<li>%s</li>\n", html.EscapeString(l))
	}
	b.WriteString("</ul>\n")
	for _, sb := range r.suggestionBlocks() {
		cls := "suggest"
		if len(sb.lines) == 0 {
			cls = "suggest empty"
		}
		fmt.Fprintf(&b, "<p class=\"%s\">%s</p>\n", cls, html.EscapeString(sb.heading))
		if len(sb.lines) > 0 {
			b.WriteString("<ol class=\"suggest\">\n")
			for _, l := range sb.lines {
				fmt.Fprintf(&b, "<li>%s</li>\n", html.EscapeString(l))
			}
			b.WriteString("</ol>\n")
		}
	}
	b.WriteString("<h2>Compressed size by step</h2>\n")
	b.WriteString(chart(r))
	for _, t := range r.tables() {
		htmlTable(&b, t)
	}
	b.WriteString("</body>\n</html>\n")
	_, err := io.WriteString(w, b.String())
	return err
}

// chart draws one horizontal bar per variant, stacked base first and then
// by row (step), scaled to the largest compressed total.
func chart(r *Report) string {
	const left, width, barH, gap = 220, 700, 26, 14
	var maxTotal int64 = 1
	for _, v := range r.Variants {
		maxTotal = max(maxTotal, v.Total.Compressed)
	}
	legendH := 18 * (len(r.Rows) + 1)
	h := len(r.Variants)*(barH+gap) + gap + legendH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" role="img" aria-label="compressed size per variant, stacked by step">`+"\n", left+width+200, h)
	for vi, v := range r.Variants {
		y := gap + vi*(barH+gap)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end">%s</text>`+"\n", left-8, y+barH/2+4, html.EscapeString(truncate(v.Name, 30)))
		x := float64(left)
		seg := func(n int64, colour, label string) {
			if n <= 0 {
				return
			}
			sw := float64(n) / float64(maxTotal) * width
			fmt.Fprintf(&b, `<rect x="%.2f" y="%d" width="%.2f" height="%d" fill="%s"><title>%s</title></rect>`+"\n",
				x, y, sw, barH, colour, html.EscapeString(label))
			x += sw
		}
		seg(v.Base.Compressed, baseColour, "base: "+size(v.Base.Compressed))
		for ri, row := range r.Rows {
			if c := row.Cells[vi]; c >= 0 {
				s := v.Steps[c]
				seg(s.Compressed, palette[ri%len(palette)], s.Instruction+": "+size(s.Compressed))
			}
		}
		fmt.Fprintf(&b, `<text x="%.2f" y="%d">%s</text>`+"\n", x+4, y+barH/2+4, html.EscapeString(size(v.Total.Compressed)))
	}
	y := len(r.Variants)*(barH+gap) + gap
	legend := func(i int, colour, label string) {
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="12" height="12" fill="%s"/><text x="%d" y="%d">%s</text>`+"\n",
			left, y+i*18, colour, left+18, y+i*18+10, html.EscapeString(truncate(label, 90)))
	}
	legend(0, baseColour, "base image")
	for ri, row := range r.Rows {
		legend(ri+1, palette[ri%len(palette)], row.Instruction)
	}
	b.WriteString("</svg>\n")
	return b.String()
}
