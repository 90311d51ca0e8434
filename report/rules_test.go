package report

import (
	"strings"
	"testing"
)

func TestRules(t *testing.T) {
	tests := []struct{ path, want string }{
		{"var/lib/apt/lists/deb.debian.org_dists_bookworm_InRelease", "apt-lists"},
		{"var/lib/apt/lists", ""},
		{"var/cache/apt/archives/hello.deb", "apt-cache"},
		{"var/cache/apk/APKINDEX.abc.tar.gz", "apk-cache"},
		{"root/.cache/pip/http/a/b", "pip-cache"},
		{"home/app/.cache/pip/x", "pip-cache"},
		{"usr/lib/python3/__pycache__/x.pyc", "pycache"},
		{"root/.npm/_cacache/index", "npm-cache"},
		{"root/go/pkg/mod/cache/download/x.zip", "go-mod-cache"},
		{"root/go/pkg/mod/github.com/x/y.go", ""},
		{"usr/share/man/man1/ls.1.gz", "man"},
		{"usr/bin/pip", ""},
	}
	for _, tt := range tests {
		got := ""
		if r := match(DefaultRules, tt.path); r != nil {
			got = r.Name
		}
		if got != tt.want {
			t.Errorf("match(%q) = %q, want %q", tt.path, got, tt.want)
		}
	}
	r, err := CustomRule("/opt/*/build/**")
	if err != nil || !globMatch(r.Glob, "opt/app/build/a/b.o") || globMatch(r.Glob, "opt/app/src/a") {
		t.Errorf("custom rule %+v, %v", r, err)
	}
	if _, err := CustomRule("a/[b"); err == nil {
		t.Error("malformed glob accepted")
	}
}

func TestCheckBudgets(t *testing.T) {
	v := &Variant{Name: "alpine", Total: Sizes{Compressed: 2000, Uncompressed: 5000}, Waste: Waste{Bytes: 700}}
	r := &Report{Schema: SchemaVersion, Variants: []*Variant{v}}
	old := &Report{Variants: []*Variant{{Name: "alpine", Total: Sizes{Compressed: 1900, Uncompressed: 5000}}}}
	tests := []struct {
		name string
		b    Budgets
		want string
	}{
		{"none", Budgets{}, ""},
		{"within", Budgets{MaxCompressed: 2000, MaxUncompressed: 5000, MaxWaste: 700}, ""},
		{"size", Budgets{MaxCompressed: 1999}, "variant alpine: compressed size 2kB (2000 bytes) exceeds --max-size 2kB (1999 bytes)"},
		{"waste", Budgets{MaxWaste: 10}, "variant alpine: waste 700B (700 bytes) exceeds --max-waste 10B (10 bytes)"},
		{"increase ok", Budgets{Baseline: old, MaxIncrease: Increase{Percent: 6, Text: "6%"}}, ""},
		{"increase", Budgets{Baseline: old, MaxIncrease: Increase{Percent: 5, Text: "5%"}},
			"variant alpine: compressed size 2kB (2000 bytes) grew by 100B (100 bytes) (5.26%) over the baseline 1.9kB (1900 bytes), more than --max-increase 5%"},
		{"increase bytes", Budgets{Baseline: old, MaxIncrease: Increase{Bytes: 99, Text: "99B"}}, "more than --max-increase 99B"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckBudgets(r, tt.b)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
	if n, err := ParseSize("--max-size", "50MB"); err != nil || n != 50_000_000 {
		t.Errorf("ParseSize(50MB) = %d, %v", n, err)
	}
	if n, err := ParseSize("--max-size", "1MiB"); err != nil || n != 1<<20 {
		t.Errorf("ParseSize(1MiB) = %d, %v", n, err)
	}
}
