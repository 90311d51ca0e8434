// Package attesttest gives tests the public schemas that ibuild's
// attestations are checked against.
package attesttest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// schemaModule is a Go module that ships the official SPDX 2.3 JSON schema
// (github.com/spdx/spdx-spec's schemas/spdx-schema.json, as Syft keeps it
// for its own tests). The schema is read from the Go module cache and never
// copied into this repository.
const (
	schemaModule = "github.com/anchore/syft@v1.18.1"
	schemaPath   = "schema/spdx-json/spdx-schema-2.3.json"
)

var (
	once   sync.Once
	schema string
	errDL  error
)

// SPDXSchema returns the path of the SPDX 2.3 JSON schema, downloading the
// module that holds it through the Go module proxy (GOPROXY) the first time.
func SPDXSchema(t testing.TB) string {
	t.Helper()
	once.Do(func() { schema, errDL = download() })
	if errDL != nil {
		t.Fatalf("getting the SPDX 2.3 schema from %s: %v", schemaModule, errDL)
	}
	return schema
}

func download() (string, error) {
	dir, err := os.MkdirTemp("", "spdxschema")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	cmd := exec.Command("go", "mod", "download", "-json", schemaModule)
	cmd.Dir = dir // outside any module: go.mod and go.sum stay untouched
	cmd.Env = append(os.Environ(), "GOWORK=off", "GOFLAGS=-mod=mod")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return "", fmt.Errorf("go mod download: %w: %s", err, bytes.TrimSpace(stderr.Bytes()))
	}
	var m struct{ Dir, Error string }
	if err := json.Unmarshal(out, &m); err != nil {
		return "", fmt.Errorf("go mod download output: %w", err)
	}
	if m.Error != "" {
		return "", fmt.Errorf("go mod download: %s", m.Error)
	}
	p := filepath.Join(m.Dir, schemaPath)
	if _, err := os.Stat(p); err != nil {
		return "", err
	}
	return p, nil
}
