package report

import (
	"encoding/json"
	"fmt"
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
		fmt.Fprintln(tw, strings.ToUpper(strings.Join(texts(t.header), "\t")))
		for _, row := range t.rows {
			fmt.Fprintln(tw, strings.Join(texts(row), "\t"))
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	return nil
}

// texts is the text of each cell.
func texts(cells []cell) []string {
	out := make([]string, len(cells))
	for i, c := range cells {
		out[i] = c.text
	}
	return out
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
			b.WriteString(" " + mdEscape(h.text) + " |")
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
				b.WriteString(" " + mdEscape(c.text) + " |")
			}
			b.WriteString("\n")
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}
