package parser

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FuzzParse checks that Parse never panics, that every error is an *Error
// whose location is either the whole file or a line range inside the input,
// and that a successful parse has stages whose commands all have valid
// locations and can be dumped. It is seeded with every Dockerfile under
// testdata/parser.
func FuzzParse(f *testing.F) {
	err := filepath.WalkDir(testdataDir, func(path string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() || e.Name() != "Dockerfile" {
			return err
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f.Add(src)
		return nil
	})
	if err != nil {
		f.Fatal(err)
	}
	f.Add([]byte("FROM a\nONBUILD RUN <<EOF\nx\nEOF\n"))
	f.Add([]byte("# escape=`\nFROM a\nRUN --mount=type=cache,target=`$X x\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		d, err := Parse("Dockerfile", src)
		nlines := countLines(src)
		if err != nil {
			var perr *Error
			if !errors.As(err, &perr) {
				t.Fatalf("error %q is a %T, want *parser.Error", err, err)
			}
			if err != error(perr) {
				t.Fatalf("error %q wraps an *Error instead of being one", err)
			}
			checkErrorLocation(t, perr, "Dockerfile", nlines)
			return
		}
		if len(d.Stages) == 0 {
			t.Fatal("Parse succeeded without stages")
		}
		checkLocations(t, d, nlines)
		_ = d.Dump()
	})
}
