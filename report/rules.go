package report

import (
	"fmt"
	"path"
	"strings"
)

// Rule marks files that package managers and tools leave behind and that an
// image rarely needs at run time. Glob is matched against the file's path
// without the leading slash: "*" and "?" match within one path element as in
// [path.Match], and a "**" element matches any number of elements.
type Rule struct {
	Name   string `json:"name"`
	Glob   string `json:"glob"`
	Reason string `json:"reason"`
}

// DefaultRules is the built-in rule list (documented in
// docs/report-schema.md). Add to it with [CustomRule] (--waste-rule).
var DefaultRules = []Rule{
	{"apt-lists", "var/lib/apt/lists/**", "apt package lists: rm -rf /var/lib/apt/lists/* after apt-get install"},
	{"apt-cache", "var/cache/apt/**", "apt caches and downloaded .debs: apt-get clean"},
	{"apt-logs", "var/log/apt/**", "apt logs"},
	{"dpkg-log", "var/log/dpkg.log", "dpkg log"},
	{"apk-cache", "var/cache/apk/**", "apk cache: apk add --no-cache"},
	{"apk-cache", "etc/apk/cache/**", "apk cache: apk add --no-cache"},
	{"dnf-cache", "var/cache/dnf/**", "dnf cache: dnf clean all"},
	{"yum-cache", "var/cache/yum/**", "yum cache: yum clean all"},
	{"pip-cache", "**/.cache/pip/**", "pip cache: pip install --no-cache-dir"},
	{"npm-cache", "**/.npm/_cacache/**", "npm cache: npm cache clean --force"},
	{"yarn-cache", "**/.cache/yarn/**", "yarn cache: yarn cache clean"},
	{"go-build-cache", "**/.cache/go-build/**", "Go build cache: go clean -cache or a cache mount"},
	{"go-mod-cache", "**/go/pkg/mod/cache/**", "Go module download cache: go clean -modcache or a cache mount"},
	{"pycache", "**/__pycache__/**", "Python bytecode caches: PYTHONDONTWRITEBYTECODE=1"},
	{"docs", "usr/share/doc/**", "documentation"},
	{"man", "usr/share/man/**", "man pages"},
	{"info", "usr/share/info/**", "info pages"},
	{"tmp", "tmp/**", "files left in /tmp"},
	{"tmp", "var/tmp/**", "files left in /var/tmp"},
}

// CustomRule returns a rule for a --waste-rule GLOB; a leading slash is
// dropped. It fails if glob is malformed.
func CustomRule(glob string) (Rule, error) {
	g := strings.TrimPrefix(path.Clean("/"+glob), "/")
	for _, el := range strings.Split(g, "/") {
		if _, err := path.Match(el, ""); err != nil {
			return Rule{}, fmt.Errorf("invalid waste rule %q: %w", glob, err)
		}
	}
	return Rule{Name: "custom:" + g, Glob: g, Reason: "--waste-rule " + glob}, nil
}

// match returns the first rule matching name (no leading slash), or nil.
func match(rules []Rule, name string) *Rule {
	for i := range rules {
		if globMatch(rules[i].Glob, name) {
			return &rules[i]
		}
	}
	return nil
}

// globMatch matches name against pattern element by element; "**" matches
// zero or more elements. Malformed patterns match nothing.
func globMatch(pattern, name string) bool {
	return matchElems(strings.Split(pattern, "/"), strings.Split(name, "/"))
}

func matchElems(pat, name []string) bool {
	for len(pat) > 0 {
		if pat[0] == "**" {
			if len(pat) == 1 {
				return len(name) > 0
			}
			for i := 0; i <= len(name); i++ {
				if matchElems(pat[1:], name[i:]) {
					return true
				}
			}
			return false
		}
		if len(name) == 0 {
			return false
		}
		if ok, err := path.Match(pat[0], name[0]); err != nil || !ok {
			return false
		}
		pat, name = pat[1:], name[1:]
	}
	return len(name) == 0
}
