package registry

import (
	"go/parser"
	"go/token"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImportDirection guards docs/DESIGN.md: registry imports only layer
// among ibuild's packages (registrytest may import nothing of ours but
// Go's standard library).
func TestImportDirection(t *testing.T) {
	const module = "github.com/ibuild/ibuild/"
	allowed := map[string][]string{
		".":            {module + "layer"},
		"registrytest": {},
	}
	for dir, ok := range allowed {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, f := range files {
			if strings.HasSuffix(f, "_test.go") {
				continue
			}
			ast, err := parser.ParseFile(token.NewFileSet(), f, nil, parser.ImportsOnly)
			if err != nil {
				t.Fatal(err)
			}
			for _, imp := range ast.Imports {
				p, _ := strconv.Unquote(imp.Path.Value)
				if strings.HasPrefix(p, module) && !contains(ok, p) {
					t.Errorf("%s imports %s; allowed: %v", f, p, ok)
				}
			}
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
