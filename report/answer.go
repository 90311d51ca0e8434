package report

import (
	"fmt"
	"io"
	"strings"
)

// answer is the report's opening: which variant is smallest and by how
// much (compressed, the bytes pushed and pulled), then what each variant's
// size is made of. Every figure comes from the tables below it.
func (r *Report) answer() []string {
	var lines []string
	if len(r.Variants) > 1 {
		lines = append(lines, r.smallest())
	}
	for _, v := range r.Variants {
		lines = append(lines, composition(v))
	}
	return lines
}

// smallest names the variant with the smallest compressed total and how
// much larger each other variant is, in bytes and as a ratio.
func (r *Report) smallest() string {
	best := r.Variants[0]
	for _, v := range r.Variants[1:] {
		if v.Total.Compressed < best.Total.Compressed {
			best = v
		}
	}
	var others []string
	for _, v := range r.Variants {
		if v == best {
			continue
		}
		d := v.Total.Compressed - best.Total.Compressed
		if d == 0 {
			others = append(others, v.Name+" is the same size")
			continue
		}
		others = append(others, fmt.Sprintf("%s is %s larger: %s, %s %s", v.Name, size(d), size(v.Total.Compressed),
			ratio(v.Total.Compressed, best.Total.Compressed), best.Name))
	}
	s := fmt.Sprintf("Smallest: %s, %s compressed; %s.", best.Name, size(best.Total.Compressed), strings.Join(others, "; "))
	// Say so when the uncompressed (on-disk) ranking differs.
	bestU := r.Variants[0]
	for _, v := range r.Variants[1:] {
		if v.Total.Uncompressed < bestU.Total.Uncompressed {
			bestU = v
		}
	}
	if bestU != best && bestU.Total.Uncompressed < best.Total.Uncompressed {
		s += fmt.Sprintf(" Uncompressed, %s is smallest: %s against %s.", bestU.Name, size(bestU.Total.Uncompressed), size(best.Total.Uncompressed))
	}
	return s
}

// share formats a fraction as a percentage, "<0.1%" when it is not zero
// but would print as 0.0% (which would read as no waste).
func share(f float64) string {
	if f > 0 && f < 0.0005 {
		return "<0.1%"
	}
	return fmt.Sprintf("%.1f%%", f*100)
}

// ratio formats a/b as "1.49×", or "∞×" when b is zero.
func ratio(a, b int64) string {
	if b == 0 {
		return "∞×"
	}
	return fmt.Sprintf("%.2f×", float64(a)/float64(b))
}

// composition splits a variant's size into base and added layers, and its
// waste (file content bytes) into the part in the base and the part added.
func composition(v *Variant) string {
	var baseWaste int64
	for _, l := range v.Layers {
		if l.Base {
			baseWaste += l.WasteBytes
		}
	}
	addC, addU := v.Total.Compressed-v.Base.Compressed, v.Total.Uncompressed-v.Base.Uncompressed
	s := fmt.Sprintf("%s: %s compressed = base %s + added %s; uncompressed %s = base %s + added %s",
		v.Name, size(v.Total.Compressed), size(v.Base.Compressed), size(addC),
		size(v.Total.Uncompressed), size(v.Base.Uncompressed), size(addU))
	if v.Waste.Bytes == 0 {
		return s + "; no waste."
	}
	return s + fmt.Sprintf("; waste %s of file content (%s), %s in the base and %s added.",
		size(v.Waste.Bytes), share(v.WasteShare()), size(baseWaste), size(v.Waste.Bytes-baseWaste))
}

// writeAnswer writes the answer lines and the suggestions as plain text.
func writeAnswer(w io.Writer, r *Report) {
	for _, l := range r.answer() {
		fmt.Fprintln(w, l)
	}
	fmt.Fprintln(w)
	for i, b := range r.suggestionBlocks() {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintln(w, b.heading)
		for _, l := range b.lines {
			fmt.Fprintln(w, "  - "+l)
		}
	}
	fmt.Fprintln(w)
}
