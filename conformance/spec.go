package conformance

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// Case is one conformance case: a build context with its Dockerfile and the
// options both builders get (testdata/conformance/NAME/case.json).
type Case struct {
	// Name is the case's directory name.
	Name string `json:"-"`
	// Dir is the case directory; its context/ subdirectory is the build context.
	Dir string `json:"-"`
	// From names the upstream test the case is ported from (file and test name).
	From string `json:"from"`
	// BuildArgs are passed as --build-arg K=V (BuildKit: --opt build-arg:K=V).
	BuildArgs map[string]string `json:"buildArgs,omitempty"`
	// Target is the stage to build (--target).
	Target string `json:"target,omitempty"`
	// ExpectError, when set, makes the case an error case: both builders
	// must fail and ibuild's message must contain this fragment and name the
	// Dockerfile line (Dockerfile:N).
	ExpectError string `json:"expectError,omitempty"`
	// CompareTimes adds file modification times to the comparison.
	CompareTimes bool `json:"compareTimes,omitempty"`
	// Setup is a shell command run in a temporary copy of context/ before
	// both builds (modes, empty directories, FIFOs, names git cannot store).
	Setup string `json:"setup,omitempty"`
	// Note explains the case, especially where BuildKit's behaviour is
	// arguably a bug that ibuild follows anyway.
	Note string `json:"note,omitempty"`
}

// ContextDir is the case's build context.
func (c *Case) ContextDir() string { return filepath.Join(c.Dir, "context") }

// Load reads the case in dir.
func Load(dir string) (*Case, error) {
	b, err := os.ReadFile(filepath.Join(dir, "case.json"))
	if err != nil {
		return nil, fmt.Errorf("reading case: %w", err)
	}
	c := &Case{Name: filepath.Base(dir), Dir: dir}
	dec := json.NewDecoder(strings.NewReader(string(b)))
	dec.DisallowUnknownFields()
	if err := dec.Decode(c); err != nil {
		return nil, fmt.Errorf("%s: decoding case.json: %w", dir, err)
	}
	if strings.TrimSpace(c.From) == "" {
		return nil, fmt.Errorf("%s: case.json: \"from\" is required (the upstream test the case is ported from)", dir)
	}
	if _, err := os.Stat(filepath.Join(c.ContextDir(), "Dockerfile")); err != nil {
		return nil, fmt.Errorf("%s: %w", dir, err)
	}
	return c, nil
}

// LoadAll reads every case directory (one holding a case.json, or a symlink
// to one) in root, sorted by name.
func LoadAll(root string) ([]*Case, error) {
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, fmt.Errorf("listing cases: %w", err)
	}
	var cases []*Case
	var errs []error
	for _, e := range ents {
		dir := filepath.Join(root, e.Name())
		// Stat, not e.IsDir: a case may be a symlink to a directory elsewhere.
		if _, err := os.Stat(filepath.Join(dir, "case.json")); err != nil {
			continue
		}
		c, err := Load(dir)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		cases = append(cases, c)
	}
	sort.Slice(cases, func(i, j int) bool { return cases[i].Name < cases[j].Name })
	return cases, errors.Join(errs...)
}
