package report

import (
	"fmt"
	"html"
	"io"
	"strings"
)

// css keeps the page within the window: text wraps anywhere it must, and a
// table wider than the page scrolls inside its own box.
const css = `body{font-family:system-ui,sans-serif;margin:1.5em;color:#222;background:#fff}
h1,h2,p,li{overflow-wrap:anywhere}.scroll{max-width:100%;overflow-x:auto;margin:.5em 0 1.5em}
table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:3px 6px;font-size:13px;vertical-align:top}
th{background:#eef2f7;text-align:left}td{overflow-wrap:anywhere;min-width:4em}td:first-child{min-width:12em}
td.num{text-align:right;font-variant-numeric:tabular-nums;white-space:nowrap;overflow-wrap:normal}
[title]{text-decoration:underline dotted #999}.note{color:#555;font-size:13px}
svg{max-width:100%;height:auto}svg text{font-size:12px;font-family:system-ui,sans-serif}`

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
	u := pickUnit(r)
	fmt.Fprintf(&b, "<p class=\"note\">Table sizes are in %s (1 %[1]s = %.0f bytes); hover a size for its exact bytes, a shortened name for the whole.</p>\n", u.name, u.div)
	for _, t := range r.tables() {
		htmlTable(&b, t, u)
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
	short := shortNames(r.Variants)
	h := len(r.Variants)*(barH+gap) + gap + legendH
	var b strings.Builder
	fmt.Fprintf(&b, `<svg width="%d" height="%d" viewBox="0 0 %[1]d %[2]d" role="img" aria-label="compressed size per variant, stacked by step">`+"\n", left+width+200, h)
	for vi, v := range r.Variants {
		y := gap + vi*(barH+gap)
		fmt.Fprintf(&b, `<text x="%d" y="%d" text-anchor="end"><title>%s</title>%s</text>`+"\n", left-8, y+barH/2+4,
			html.EscapeString(v.Name), html.EscapeString(short[v.Name]))
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

// unit is the one unit an HTML report shows sizes in.
type unit struct {
	name string
	div  float64
}

// pickUnit is the decimal unit (as the text report's) of the largest
// uncompressed total: sizes in one unit compare at a glance.
func pickUnit(r *Report) unit {
	var most int64
	for _, v := range r.Variants {
		most = max(most, v.Total.Uncompressed, v.Total.Compressed)
	}
	for _, u := range []unit{{"GB", 1e9}, {"MB", 1e6}, {"kB", 1e3}} {
		if float64(most) >= u.div {
			return u
		}
	}
	return unit{"B", 1}
}

// in formats n bytes in u: "12.35 MB", "<0.01 MB" for a few bytes.
func (u unit) in(n int64) string {
	if u.div == 1 || n == 0 {
		return fmt.Sprintf("%d %s", n, u.name)
	}
	f := float64(n) / u.div
	if f < 0.005 {
		return "<0.01 " + u.name
	}
	return fmt.Sprintf("%.2f %s", f, u.name)
}

// htmlCell renders c's content: a size in u with the exact bytes on hover,
// or its (short) text with its title.
func htmlCell(c cell, u unit) string {
	if c.isSize {
		return fmt.Sprintf(`<span title="%d bytes">%s</span>`, c.bytes,
			html.EscapeString(c.prefix+u.in(c.bytes)+c.suffix))
	}
	text := c.text
	if c.short != "" {
		text = c.short
	}
	if c.title != "" {
		return fmt.Sprintf(`<span title="%s">%s</span>`, html.EscapeString(c.title), html.EscapeString(text))
	}
	return html.EscapeString(text)
}

// htmlTable writes t inside a box that scrolls sideways when the table is
// wider than the page.
func htmlTable(b *strings.Builder, t table, u unit) {
	if len(t.rows) == 0 && t.empty != "" {
		fmt.Fprintf(b, "<p class=\"empty\">%s</p>\n", html.EscapeString(t.empty))
		return
	}
	fmt.Fprintf(b, "<h2>%s</h2>\n", html.EscapeString(t.title))
	if t.note != "" {
		fmt.Fprintf(b, "<p class=\"note\">%s</p>\n", html.EscapeString(t.note))
	}
	b.WriteString("<div class=\"scroll\"><table>\n<tr>")
	for _, h := range t.header {
		fmt.Fprintf(b, "<th>%s</th>", htmlCell(h, u))
	}
	b.WriteString("</tr>\n")
	for _, row := range t.rows {
		b.WriteString("<tr>")
		for i, c := range row {
			cls := ""
			if i < len(t.right) && t.right[i] {
				cls = ` class="num"`
			}
			fmt.Fprintf(b, "<td%s>%s</td>", cls, htmlCell(c, u))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table></div>\n")
}
