package report

import (
	"encoding/json"
	"fmt"
	"os"
)

// ReadFile reads a JSON report written by Render; a report of another
// schema version is an error.
func ReadFile(name string) (*Report, error) {
	data, err := os.ReadFile(name)
	if err != nil {
		return nil, err
	}
	var r Report
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if r.Schema != SchemaVersion {
		return nil, fmt.Errorf("%s: schema %q, want %q", name, r.Schema, SchemaVersion)
	}
	return &r, nil
}
