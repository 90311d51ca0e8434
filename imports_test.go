package ibuild_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/ibuild/ibuild"

// allowed lists, for each top-level package directory, the other top-level
// directories of this module its non-test files may import (docs/DESIGN.md,
// "Import direction"). Imports inside one top-level directory (build ->
// build/sandbox) are always allowed. A directory missing from this map may
// import anything except the restrictions checked in TestImportDirection.
var allowed = map[string][]string{
	"parser":   {},
	"layer":    {},
	"progress": {},
	"cache":    {"layer", "internal"},
	"registry": {"layer", "internal"},
	"internal": {},
	"build":    {"parser", "layer", "cache", "registry", "progress", "internal"},
	"report":   {"layer", "internal"},
	"attest":   {"layer", "internal"},
}

// onlyImportedBy says which top-level directories may import a directory.
var onlyImportedBy = map[string][]string{
	"cmd":    {},
	"build":  {"cmd"},
	"report": {"cmd"},
	"attest": {"cmd"},
}

// importsNone lists the packages, inside a top-level directory that may
// import more, that import none of this module's packages at all.
var importsNone = []string{"build/buildctx", "registry/registrytest"}

// TestImportDirection guards the package layering: parser, layer and
// progress import none of ours; cache and registry import only layer and
// internal (internal/atomicfile); internal imports none of ours; report
// imports only layer and internal (it analyses images and a list of steps,
// not builds or Dockerfiles; internal/pkgdb parses the package databases it
// shares with attest); attest (SBOM and provenance) likewise imports only
// layer and internal and takes what it needs of a build as plain values
// from cmd, so that build never waits on it; build, report and attest are
// imported only by cmd; nothing imports
// cmd; build/buildctx and registry/registrytest import nothing of ours.
// Test files are not checked: they may use helpers such as
// registry/registrytest.
func TestImportDirection(t *testing.T) {
	imports := moduleImports(t)
	if len(imports) == 0 {
		t.Fatal("found no packages; run the test from the module root")
	}
	if problems := violations(imports); len(problems) > 0 {
		t.Errorf("import direction violated (see docs/DESIGN.md):\n  %s", strings.Join(problems, "\n  "))
	}
}

// TestViolations shows that the check catches each kind of bad import.
func TestViolations(t *testing.T) {
	imports := map[string][]string{
		module + "/parser":         {module + "/layer"},
		module + "/cache":          {module + "/layer", module + "/registry"},
		module + "/registry":       {module + "/build"},
		module + "/progress":       {module + "/cmd/ibuild"},
		module + "/build":          {module + "/build/sandbox", module + "/parser", module + "/report"},
		module + "/build/sandbox":  nil,
		module + "/build/buildctx": {module + "/build/sandbox"},
		module + "/cmd/ibuild":     {module + "/build"},
		module + "/report":         {module + "/layer", module + "/parser", module + "/build"},
		module + "/attest":         {module + "/internal/pkgdb", module + "/registry"},
	}
	want := []string{
		module + "/attest imports " + module + "/registry (allowed: layer, internal)",
		module + "/build imports " + module + "/report (allowed: parser, layer, cache, registry, progress, internal)",
		module + "/build imports " + module + "/report (only cmd may import report)",
		module + "/build/buildctx imports " + module + "/build/sandbox (allowed: none of ours)",
		module + "/cache imports " + module + "/registry (allowed: layer, internal)",
		module + "/parser imports " + module + "/layer (allowed: none of ours)",
		module + "/progress imports " + module + "/cmd/ibuild (allowed: none of ours)",
		module + "/progress imports " + module + "/cmd/ibuild (nothing may import cmd)",
		module + "/registry imports " + module + "/build (allowed: layer, internal)",
		module + "/registry imports " + module + "/build (only cmd may import build)",
		module + "/report imports " + module + "/parser (allowed: layer, internal)",
		module + "/report imports " + module + "/build (allowed: layer, internal)",
		module + "/report imports " + module + "/build (only cmd may import build)",
	}
	if got := violations(imports); !slices.Equal(got, want) {
		t.Errorf("violations =\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
	}
}

// violations lists every import that breaks the layering rules.
func violations(imports map[string][]string) []string {
	var problems []string
	for _, pkg := range sortedKeys(imports) {
		from := topDir(pkg)
		for _, imp := range imports[pkg] {
			if slices.Contains(importsNone, strings.TrimPrefix(pkg, module+"/")) {
				problems = append(problems, pkg+" imports "+imp+" (allowed: none of ours)")
				continue
			}
			to := topDir(imp)
			if to == from {
				continue
			}
			if ok, limited := allowed[from]; limited && !slices.Contains(ok, to) {
				problems = append(problems, pkg+" imports "+imp+" (allowed: "+describe(ok)+")")
			}
			if ok, limited := onlyImportedBy[to]; limited && !slices.Contains(ok, from) {
				who := "nothing"
				if len(ok) > 0 {
					who = "only " + strings.Join(ok, ", ")
				}
				problems = append(problems, pkg+" imports "+imp+" ("+who+" may import "+to+")")
			}
		}
	}
	return problems
}

func TestTopDir(t *testing.T) {
	tests := map[string]string{
		module:                            "",
		module + "/parser":                "parser",
		module + "/build/sandbox":         "build",
		module + "/registry/registrytest": "registry",
		module + "/cmd/ibuild":            "cmd",
	}
	for in, want := range tests {
		if got := topDir(in); got != want {
			t.Errorf("topDir(%q) = %q, want %q", in, got, want)
		}
	}
}

// moduleImports maps each package of the module (by import path) to the
// module packages its non-test Go files import. It reads import clauses
// with go/parser, so it works even when some package does not compile.
func moduleImports(t *testing.T) map[string][]string {
	t.Helper()
	fset := token.NewFileSet()
	out := map[string][]string{}
	err := filepath.WalkDir(".", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			name := e.Name()
			if path != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			return err
		}
		pkg := module
		if dir := filepath.ToSlash(filepath.Dir(path)); dir != "." {
			pkg += "/" + dir
		}
		for _, spec := range f.Imports {
			imp, err := strconv.Unquote(spec.Path.Value)
			if err != nil {
				return err
			}
			if (imp == module || strings.HasPrefix(imp, module+"/")) && !slices.Contains(out[pkg], imp) {
				out[pkg] = append(out[pkg], imp)
			}
		}
		if _, ok := out[pkg]; !ok {
			out[pkg] = nil
		}
		return nil
	})
	if err != nil && !os.IsNotExist(err) {
		t.Fatal(err)
	}
	return out
}

// topDir is the first path element below the module ("" for the root).
func topDir(pkg string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(pkg, module), "/")
	dir, _, _ := strings.Cut(rest, "/")
	return dir
}

func describe(dirs []string) string {
	if len(dirs) == 0 {
		return "none of ours"
	}
	return strings.Join(dirs, ", ")
}

func sortedKeys(m map[string][]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// mountCalls are the system calls that mount or unmount file systems.
var mountCalls = []string{"Mount", "Unmount", "Fsopen", "Fsmount", "FsconfigCreate", "FsconfigSetString", "MoveMount", "MountSetattr", "OpenTree"}

// TestOnlyRootfsMounts: in build, only build/rootfs mounts (and the
// sandbox, inside the step's namespaces); the rest of build asks rootfs.
func TestOnlyRootfsMounts(t *testing.T) {
	fset := token.NewFileSet()
	var found []string
	err := filepath.WalkDir("build", func(path string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			if path == filepath.Join("build", "rootfs") || path == filepath.Join("build", "sandbox") || e.Name() == "testdata" {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok {
				return true
			}
			if pkg, ok := sel.X.(*ast.Ident); ok && (pkg.Name == "unix" || pkg.Name == "syscall") && slices.Contains(mountCalls, sel.Sel.Name) {
				found = append(found, fset.Position(sel.Pos()).String()+": "+pkg.Name+"."+sel.Sel.Name)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Errorf("build code outside build/rootfs mounts (ask build/rootfs instead):\n  %s", strings.Join(found, "\n  "))
	}
}
