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
	"report":   {"layer", "internal"}, // neither build nor parser: it analyses images and a list of steps
	"attest":   {"layer", "internal"}, // SBOM and provenance, from images and plain values cmd passes
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

// mountCalls are the system calls that mount file systems or change
// mounts; unmountCalls only detach them.
var (
	mountCalls   = []string{"Mount", "Fsopen", "Fsmount", "FsconfigCreate", "FsconfigSetString", "MoveMount", "MountSetattr", "OpenTree"}
	unmountCalls = []string{"Unmount"}
)

// mounters lists the only directories whose non-test code may mount:
// build/rootfs (snapshots, scratch overlays, cache mounts) and
// build/sandbox (inside the step's own namespaces).
var mounters = []string{"build/rootfs", "build/sandbox"}

// unmounters may also detach mounts: cache's prune detaches what a killed
// build left mounted under the store before it deletes the directory.
var unmounters = append([]string{"cache"}, mounters...)

// TestOnlyRootfsMounts: build/rootfs is the only build code that mounts
// (besides the sandbox, inside the step's namespaces); the rest of build,
// and every other package, asks rootfs. Test files may mount to set up
// their fixtures.
func TestOnlyRootfsMounts(t *testing.T) {
	var found []string
	err := filepath.WalkDir(".", func(p string, e fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if e.IsDir() {
			name := e.Name()
			if p != "." && (strings.HasPrefix(name, ".") || strings.HasPrefix(name, "_") || name == "testdata") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(p, ".go") || strings.HasSuffix(p, "_test.go") {
			return nil
		}
		src, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		calls, err := mountCallsIn(p, src, filepath.ToSlash(filepath.Dir(p)))
		found = append(found, calls...)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(found) > 0 {
		t.Errorf("code outside %s mounts (ask build/rootfs instead):\n  %s", strings.Join(mounters, " and "), strings.Join(found, "\n  "))
	}
}

// TestMountCallsIn shows that the check catches each kind of mount call.
func TestMountCallsIn(t *testing.T) {
	src := []byte(`package x
import ("syscall"; "golang.org/x/sys/unix")
func f() {
	unix.Mount("a", "b", "overlay", 0, "")
	syscall.Mount("a", "b", "", syscall.MS_BIND, "")
	_, _ = unix.OpenTree(0, "a", 0)
	unix.Unmount("b", unix.MNT_DETACH)
	unix.Stat("b", nil)
}`)
	tests := []struct {
		dir  string
		want []string
	}{
		{"build", []string{"x.go:4:2: unix.Mount", "x.go:5:2: syscall.Mount", "x.go:6:9: unix.OpenTree", "x.go:7:2: unix.Unmount"}},
		{"layer", []string{"x.go:4:2: unix.Mount", "x.go:5:2: syscall.Mount", "x.go:6:9: unix.OpenTree", "x.go:7:2: unix.Unmount"}},
		{"cache", []string{"x.go:4:2: unix.Mount", "x.go:5:2: syscall.Mount", "x.go:6:9: unix.OpenTree"}},
		{"build/rootfs", nil},
		{"build/sandbox/sub", nil},
	}
	for _, tt := range tests {
		got, err := mountCallsIn("x.go", src, tt.dir)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("in %s: got %q, want %q", tt.dir, got, tt.want)
		}
	}
}

// mountCallsIn lists the mount calls in the Go source src, of a file in
// directory dir, that dir may not make.
func mountCallsIn(name string, src []byte, dir string) ([]string, error) {
	under := func(dirs []string) bool {
		return slices.ContainsFunc(dirs, func(d string) bool { return dir == d || strings.HasPrefix(dir, d+"/") })
	}
	if under(mounters) {
		return nil, nil
	}
	mayUnmount := under(unmounters)
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, name, src, 0)
	if err != nil {
		return nil, err
	}
	var found []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		pkg, ok := sel.X.(*ast.Ident)
		if !ok || (pkg.Name != "unix" && pkg.Name != "syscall") {
			return true
		}
		if slices.Contains(mountCalls, sel.Sel.Name) || (!mayUnmount && slices.Contains(unmountCalls, sel.Sel.Name)) {
			found = append(found, fset.Position(sel.Pos()).String()+": "+pkg.Name+"."+sel.Sel.Name)
		}
		return true
	})
	return found, nil
}
