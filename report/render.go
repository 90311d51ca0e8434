package report

import (
	"encoding/json"
	"fmt"
	"html"
	"io"
	"strings"
	"text/tabwriter"
)

// Formats accepted by [Render].
var Formats = []string{"table", "json", "markdown", "html"}

// Render writes r to w in format: "table" (terminal), "json" (the
// versioned schema), "markdown" or "html" (one self-contained page).
func Render(w io.Writer, r *Report, format string) error {
	switch format {
	case "table", "":
		return renderText(w, r)
	case "json":
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(r)
	case "markdown", "md":
		return renderMarkdown(w, r)
	case "html":
		return renderHTML(w, r)
	}
	return fmt.Errorf("unknown format %q: want one of %s", format, strings.Join(Formats, ", "))
}

// StripTimes zeroes build and step durations, for reproducible output.
func (r *Report) StripTimes() {
	for _, v := range r.Variants {
		v.BuildTime = 0
		for _, s := range v.Steps {
			s.Duration = 0
		}
	}
}

func renderText(w io.Writer, r *Report) error {
	writeAnswer(w, r)
	for i, t := range r.tables() {
		if i > 0 {
			fmt.Fprintln(w)
		}
		if len(t.rows) == 0 && t.empty != "" {
			fmt.Fprintln(w, t.empty)
			continue
		}
		fmt.Fprintln(w, strings.ToUpper(t.title))
		if t.note != "" {
			fmt.Fprintln(w, "("+t.note+")")
		}
		tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(t.header, "\t")))
		for _, row := range t.rows {
			fmt.Fprintln(tw, strings.Join(row, "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

func mdEscape(s string) string {
	s = strings.ReplaceAll(s, "|", `\|`)
	return strings.ReplaceAll(s, "\n", " ")
}

func renderMarkdown(w io.Writer, r *Report) error {
	var b strings.Builder
	fmt.Fprintf(&b, "## ibuild %s report\n\n", r.Kind)
	for _, l := range r.answer() {
		fmt.Fprintf(&b, "- %s\n", mdEscape(l))
	}
	for _, sb := range r.suggestionBlocks() {
		fmt.Fprintf(&b, "\n%s\n", mdEscape(sb.heading))
		if len(sb.lines) > 0 {
			b.WriteString("\n")
		}
		for _, l := range sb.lines {
			fmt.Fprintf(&b, "1. %s\n", mdEscape(l))
		}
	}
	for _, t := range r.tables() {
		if len(t.rows) == 0 && t.empty != "" {
			fmt.Fprintf(&b, "\n%s\n", mdEscape(t.empty))
			continue
		}
		fmt.Fprintf(&b, "\n### %s\n\n", mdEscape(t.title))
		if t.note != "" {
			fmt.Fprintf(&b, "_%s_\n\n", mdEscape(t.note))
		}
		b.WriteString("|")
		for _, h := range t.header {
			b.WriteString(" " + mdEscape(h) + " |")
		}
		b.WriteString("\n|")
		for i := range t.header {
			if i < len(t.right) && t.right[i] {
				b.WriteString("---:|")
			} else {
				b.WriteString("---|")
			}
		}
		b.WriteString("\n")
		for _, row := range t.rows {
			b.WriteString("|")
			for _, c := range row {
				b.WriteString(" " + mdEscape(c) + " |")
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func htmlTable(b *strings.Builder, t table) {
	if len(t.rows) == 0 && t.empty != "" {
		fmt.Fprintf(b, "<p class=\"empty\">%s</p>\n", html.EscapeString(t.empty))
		return
	}
	fmt.Fprintf(b, "<h2>%s</h2>\n", html.EscapeString(t.title))
	if t.note != "" {
		fmt.Fprintf(b, "<p class=\"note\">%s</p>\n", html.EscapeString(t.note))
	}
	b.WriteString("<table>\n<tr>")
	for _, h := range t.header {
		fmt.Fprintf(b, "<th>%s</th>", html.EscapeString(h))
	}
	b.WriteString("</tr>\n")
	for _, row := range t.rows {
		b.WriteString("<tr>")
		for i, c := range row {
			cls := ""
			if i < len(t.right) && t.right[i] {
				cls = ` class="num"`
			}
			fmt.Fprintf(b, "<td%s>%s</td>", cls, html.EscapeString(c))
		}
		b.WriteString("</tr>\n")
	}
	b.WriteString("</table>\n")
}
