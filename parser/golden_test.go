package parser

import (
	"errors"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files in testdata/parser")

// testdataDir holds the fixtures; see its README.md.
const testdataDir = "../testdata/parser"

// caseDirs lists the case directories directly under dir.
func caseDirs(t testing.TB, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var dirs []string
	for _, e := range entries {
		if e.IsDir() && e.Name() != "negative" {
			dirs = append(dirs, e.Name())
		}
	}
	if len(dirs) == 0 {
		t.Fatalf("no cases in %s", dir)
	}
	return dirs
}

// checkGolden compares got with the golden file, or rewrites it with -update.
func checkGolden(t *testing.T, path, got string) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test ./parser -update to create it)", err)
	}
	if got != string(want) {
		t.Errorf("%s mismatch (run go test ./parser -update after checking the change)\n--- got\n%s--- want\n%s", path, got, want)
	}
}

func TestGolden(t *testing.T) {
	for _, name := range caseDirs(t, testdataDir) {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(testdataDir, name)
			src, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			d, err := Parse("Dockerfile", src)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			checkLocations(t, d, countLines(src))
			checkGolden(t, filepath.Join(dir, "golden.txt"), d.Dump())
		})
	}
}

func TestNegative(t *testing.T) {
	neg := filepath.Join(testdataDir, "negative")
	for _, name := range caseDirs(t, neg) {
		t.Run(name, func(t *testing.T) {
			dir := filepath.Join(neg, name)
			src, err := os.ReadFile(filepath.Join(dir, "Dockerfile"))
			if err != nil {
				t.Fatal(err)
			}
			d, err := Parse("Dockerfile", src)
			if err == nil {
				t.Fatalf("Parse succeeded, want an error; got\n%s", d.Dump())
			}
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error %q is a %T, want *parser.Error", err, err)
			}
			checkErrorLocation(t, perr, "Dockerfile", countLines(src))
			if !strings.HasPrefix(err.Error(), "Dockerfile") {
				t.Errorf("error %q does not name the Dockerfile", err)
			}
			checkGolden(t, filepath.Join(dir, "error.golden"), err.Error()+"\n")
		})
	}
}

// countLines counts lines the way BuildKit's scanner does: a final line
// without a newline counts.
func countLines(src []byte) int {
	n := strings.Count(string(src), "\n")
	if len(src) > 0 && src[len(src)-1] != '\n' {
		n++
	}
	return n
}

// checkLocations asserts that every stage and command has a line range
// inside the file.
func checkLocations(t testing.TB, d *Dockerfile, nlines int) {
	t.Helper()
	valid := func(what string, l Location) {
		if l.File != d.Name || l.Start < 1 || l.End < l.Start || l.End > nlines {
			t.Errorf("%s: bad location %+v in a file of %d lines", what, l, nlines)
		}
	}
	for i, st := range d.Stages {
		valid("stage "+st.Name, d.StageLocation(i))
		for _, c := range st.Commands {
			valid(c.Name(), d.CommandLocation(c))
		}
	}
	for i := range d.MetaArgs {
		valid("meta ARG", d.CommandLocation(&d.MetaArgs[i]))
	}
}

// checkErrorLocation asserts that an error's location is a whole-file
// location or a line range inside the file.
func checkErrorLocation(t testing.TB, e *Error, file string, nlines int) {
	t.Helper()
	l := e.Location
	if l.File != file {
		t.Errorf("error %q: location file %q, want %q", e, l.File, file)
	}
	if l.IsWholeFile() {
		if l.Start != 0 || l.End != 0 {
			t.Errorf("error %q: whole-file location with lines %+v", e, l)
		}
		return
	}
	if l.Start < 1 || l.End < l.Start || l.End > nlines {
		t.Errorf("error %q: location %+v outside a file of %d lines", e, l, nlines)
	}
}
