package main

import (
	"encoding/csv"
	"fmt"
	"slices"
	"strings"
)

// parseFields parses a "KEY=VALUE,KEY=VALUE" flag value (--output,
// --secret, --cache-from, --cache-to) as BuildKit does: comma-separated,
// CSV-quoted where a value holds a comma (`"dest=a,b"`). Every field must
// be KEY=VALUE with a key among keys; a key given twice keeps its last
// value. Errors name the flag and the value.
func parseFields(flag, v string, keys ...string) (map[string]string, error) {
	r := csv.NewReader(strings.NewReader(v))
	r.LazyQuotes = true
	fields, err := r.Read()
	if err != nil {
		return nil, fmt.Errorf("invalid %s %q: %w", flag, v, err)
	}
	out := map[string]string{}
	for _, f := range fields {
		k, val, ok := strings.Cut(f, "=")
		if !ok {
			return nil, fmt.Errorf("invalid %s %q: %q is not KEY=VALUE", flag, v, f)
		}
		if !slices.Contains(keys, k) {
			return nil, fmt.Errorf("invalid %s %q: unknown key %q", flag, v, k)
		}
		out[k] = val
	}
	return out, nil
}
