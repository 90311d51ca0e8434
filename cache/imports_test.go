package cache

import (
	"os/exec"
	"strings"
	"testing"
)

// TestImports guards the import direction in docs/DESIGN.md: cache may
// import layer but none of build, registry, parser or cmd.
func TestImports(t *testing.T) {
	goBin, err := exec.LookPath("go")
	if err != nil {
		t.Skip("go tool not in PATH; cannot list dependencies")
	}
	out, err := exec.Command(goBin, "list", "-deps", ".").Output()
	if err != nil {
		t.Fatalf("go list -deps: %v", err)
	}
	const mod = "github.com/ibuild/ibuild/"
	for _, dep := range strings.Fields(string(out)) {
		pkg, ok := strings.CutPrefix(dep, mod)
		if !ok || pkg == "cache" {
			continue
		}
		if pkg != "layer" && !strings.HasPrefix(pkg, "layer/") {
			t.Errorf("cache imports %s; it may import only layer among ibuild packages", dep)
		}
	}
}
