package report

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	units "github.com/docker/go-units"
)

// Budgets are CI limits on a report. Zero fields are not checked.
type Budgets struct {
	// MaxCompressed and MaxUncompressed bound each variant's total size
	// (--max-size SIZE is compressed; --max-size uncompressed=SIZE).
	MaxCompressed, MaxUncompressed int64
	// MaxWaste bounds each variant's waste bytes (--max-waste).
	MaxWaste int64
	// Baseline is an earlier report; each variant is matched to the
	// baseline variant of the same name (or the only one) and its total
	// compressed and uncompressed sizes may grow by at most MaxIncrease.
	Baseline    *Report
	MaxIncrease Increase
}

// Increase is a --max-increase limit: a percentage or a byte count.
type Increase struct {
	Percent float64
	Bytes   int64
	Text    string
}

// ParseIncrease parses "5%" or "1MB".
func ParseIncrease(s string) (Increase, error) {
	if p, ok := strings.CutSuffix(s, "%"); ok {
		f, err := strconv.ParseFloat(p, 64)
		if err != nil || f < 0 {
			return Increase{}, fmt.Errorf("invalid --max-increase %q: want a percentage like 5%% or a size like 1MB", s)
		}
		return Increase{Percent: f, Text: s}, nil
	}
	n, err := units.FromHumanSize(s)
	if err != nil {
		return Increase{}, fmt.Errorf("invalid --max-increase %q: want a percentage like 5%% or a size like 1MB", s)
	}
	return Increase{Bytes: n, Text: s}, nil
}

// ParseSize parses a --max-size or --max-waste value: "50MB", "50MiB" or
// a byte count.
func ParseSize(flag, s string) (int64, error) {
	n, err := units.RAMInBytes(s)
	if strings.HasSuffix(s, "B") && !strings.HasSuffix(s, "iB") {
		n, err = units.FromHumanSize(s)
	}
	if err != nil || n < 0 {
		return 0, fmt.Errorf("invalid %s %q: want a size like 50MB", flag, s)
	}
	return n, nil
}

// Human formats n bytes as "12.3MB (12345678 bytes)".
func Human(n int64) string {
	return fmt.Sprintf("%s (%d bytes)", units.HumanSizeWithPrecision(float64(n), 3), n)
}

// CheckBudgets returns an error listing every limit a variant exceeds, each
// naming the variant, the figure and the limit; nil when all are met.
func CheckBudgets(r *Report, b Budgets) error {
	var errs []error
	over := func(v *Variant, what string, got, limit int64, flag string) {
		if limit > 0 && got > limit {
			errs = append(errs, fmt.Errorf("variant %s: %s %s exceeds %s %s", v.Name, what, Human(got), flag, Human(limit)))
		}
	}
	for _, v := range r.Variants {
		over(v, "compressed size", v.Total.Compressed, b.MaxCompressed, "--max-size")
		over(v, "uncompressed size", v.Total.Uncompressed, b.MaxUncompressed, "--max-size uncompressed=")
		over(v, "waste", v.Waste.Bytes, b.MaxWaste, "--max-waste")
		if b.Baseline != nil {
			errs = append(errs, checkIncrease(v, b)...)
		}
	}
	return errors.Join(errs...)
}

func checkIncrease(v *Variant, b Budgets) []error {
	old := baselineVariant(b.Baseline, v.Name)
	if old == nil {
		return nil
	}
	var errs []error
	for _, f := range []struct {
		what     string
		got, was int64
	}{{"compressed size", v.Total.Compressed, old.Total.Compressed}, {"uncompressed size", v.Total.Uncompressed, old.Total.Uncompressed}} {
		limit := b.MaxIncrease.Bytes
		if b.MaxIncrease.Percent > 0 || b.MaxIncrease.Bytes == 0 {
			limit = int64(float64(f.was) * b.MaxIncrease.Percent / 100)
		}
		if inc := f.got - f.was; inc > limit {
			errs = append(errs, fmt.Errorf("variant %s: %s %s grew by %s (%.2f%%) over the baseline %s, more than --max-increase %s",
				v.Name, f.what, Human(f.got), Human(inc), pct(inc, f.was), Human(f.was), b.MaxIncrease.Text))
		}
	}
	return errs
}

func pct(inc, was int64) float64 {
	if was == 0 {
		return 100
	}
	return float64(inc) * 100 / float64(was)
}

// baselineVariant finds the variant named name, or the only variant.
func baselineVariant(r *Report, name string) *Variant {
	for _, v := range r.Variants {
		if v.Name == name {
			return v
		}
	}
	if len(r.Variants) == 1 {
		return r.Variants[0]
	}
	return nil
}
