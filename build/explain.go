package build

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"sort"
	"strings"
	"syscall"

	"github.com/ibuild/ibuild/build/buildctx"
)

// stepInputs is what a step's cache key was made of, kept per Dockerfile
// step between builds so that a miss can say which input changed.
type stepInputs struct {
	Key    string            `json:"key"`
	Parent string            `json:"parent"`
	Inputs map[string]string `json:"inputs"`
	Files  map[string]string `json:"files,omitempty"` // path → size/mode/owner/mtime signature

	files func() map[string]string // computes Files, only when the step runs
}

// envInputs names the inputs of a RUN for explanations.
func envInputs(env, args, mounts []string) map[string]string {
	in := map[string]string{"command": strings.Join(args, " ")}
	for _, e := range env {
		k, v, _ := strings.Cut(e, "=")
		in["env "+k] = v
	}
	for i, m := range mounts {
		in[fmt.Sprintf("mount %d", i)] = m
	}
	return in
}

// sourceFiles returns cheap signatures of the selected files (no hashing).
func sourceFiles(matches []buildctx.Match) map[string]string {
	if len(matches) == 0 {
		return nil
	}
	out := map[string]string{}
	for _, m := range matches {
		for _, f := range m.Files {
			sig := fmt.Sprintf("%d %o", f.Info.Size(), f.Info.Mode())
			if s, ok := f.Info.Sys().(*syscall.Stat_t); ok {
				sig += fmt.Sprintf(" %d:%d", s.Uid, s.Gid)
			}
			out[f.Path] = sig + " " + f.Info.ModTime().UTC().Format("2006-01-02T15:04:05.999999999")
		}
	}
	return out
}

// explainID names the n-th step of a stage of this Dockerfile, under which
// the store keeps its inputs between builds.
func (b *builder) explainID(st *stageState, n int) string {
	id := fmt.Sprintf("%s\x00%d\x00%d", b.dockerfileID(), st.index, n)
	if b.multi {
		// Each platform's build of a step explains itself.
		id += "\x00" + platformString(b.platform)
	}
	return id
}

func (b *builder) dockerfileID() string {
	if b.opt.DockerfileData != nil {
		abs, _ := filepath.Abs(b.opt.ContextDir)
		return "stdin:" + abs
	}
	abs, _ := filepath.Abs(b.opt.Dockerfile)
	return abs
}

// missReason compares the inputs cur of the n-th step of st with those of
// the last build of the same step and says what changed.
func (b *builder) missReason(st *stageState, n int, cur *stepInputs) string {
	if st.noCache {
		return "cache disabled (--no-cache or --no-cache-filter)"
	}
	if cur.files != nil && cur.Files == nil {
		cur.Files = cur.files()
	}
	var prev stepInputs
	data, ok, err := b.opt.Store.Explanation(b.explainID(st, n))
	if err != nil || !ok || json.Unmarshal(data, &prev) != nil {
		return "no earlier build of this step"
	}
	if prev.Key == cur.Key {
		return "cache record missing or evicted"
	}
	var settings []string
	for _, k := range sortedKeys(b.settings(st.platform), nil) {
		if v, ok := prev.Inputs[k]; ok && v != cur.Inputs[k] {
			settings = append(settings, k+" changed")
		}
	}
	if len(settings) > 0 {
		return strings.Join(settings, "; ")
	}
	if prev.Parent != cur.Parent {
		return "parent step changed"
	}
	var why []string
	for _, k := range sortedKeys(cur.Inputs, prev.Inputs) {
		a, inA := prev.Inputs[k]
		c, inC := cur.Inputs[k]
		switch {
		case !inA:
			why = append(why, k+" added")
		case !inC:
			why = append(why, k+" removed")
		case a != c && k != "sources":
			why = append(why, k+" changed")
		}
	}
	if prev.Inputs["sources"] != cur.Inputs["sources"] {
		why = append(why, fileChanges(prev.Files, cur.Files)...)
	}
	if len(why) == 0 {
		return "inputs changed"
	}
	if len(why) > 8 {
		why = append(why[:8], fmt.Sprintf("and %d more", len(why)-8))
	}
	return strings.Join(why, "; ")
}

func fileChanges(prev, cur map[string]string) []string {
	var out, touched []string
	for _, p := range sortedKeys(prev, cur) {
		a, inA := prev[p]
		c, inC := cur[p]
		switch {
		case !inA:
			out = append(out, "file "+p+" added")
		case !inC:
			out = append(out, "file "+p+" removed")
		case sigMeta(a) != sigMeta(c):
			out = append(out, "file "+p+" changed (size, mode or owner)")
		case a != c:
			touched = append(touched, p)
		}
	}
	if len(out) == 0 {
		for _, p := range touched {
			out = append(out, "file "+p+" content changed")
		}
	}
	if len(out) == 0 {
		out = append(out, "source content changed")
	}
	return out
}

// sigMeta drops the mtime from a file signature.
func sigMeta(s string) string {
	if i := strings.LastIndex(s, " "); i >= 0 {
		return s[:i]
	}
	return s
}

func sortedKeys(a, b map[string]string) []string {
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]string{a, b} {
		for k := range m {
			if !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
	}
	sort.Strings(out)
	return out
}

// saveInputs keeps the inputs cur of the n-th step of st for the next
// build. Explanations are a convenience: failing to save one does not fail
// the build.
func (b *builder) saveInputs(st *stageState, n int, cur *stepInputs) {
	data, err := json.Marshal(cur)
	if err != nil {
		return
	}
	_ = b.opt.Store.PutExplanation(b.explainID(st, n), data)
}
