package report

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Suggestion is one change to the build that would save bytes, tied to the
// step that wrote them and, for files a later step deletes or rewrites, to
// that later step too.
type Suggestion struct {
	// Kind is "chmod" (files a later step rewrote only to change their
	// mode, owner or times), "delete-later" (files a later step deletes),
	// "package-cache" (package manager caches left in the image), "docs"
	// (documentation, man and info pages) or "tmp" (files left in /tmp).
	Kind string `json:"kind"`
	// Layer is the layer that wrote the bytes; Step is its instruction (or
	// history entry) and Location its Dockerfile line, for built variants.
	Layer    int    `json:"layer"`
	Step     string `json:"step"`
	Location string `json:"location,omitempty"`
	// Base says the bytes are in a layer of the base image.
	Base bool `json:"base"`
	// LaterLayer is the layer of the step that deleted or rewrote the files
	// (kinds chmod and delete-later), -1 otherwise; LaterStep and
	// LaterLocation name that step.
	LaterLayer    int    `json:"laterLayer"`
	LaterStep     string `json:"laterStep,omitempty"`
	LaterLocation string `json:"laterLocation,omitempty"`
	// Rule names the waste rules matched (package-cache, docs, tmp).
	Rule string `json:"rule,omitempty"`
	// Bytes is what the change saves: file content bytes, uncompressed.
	Bytes int64 `json:"bytes"`
	// Files counts the files; Examples are the largest (at most five).
	Files    int      `json:"files"`
	Examples []string `json:"examples"`
	// Advice says what to change, naming the steps by their locations.
	Advice string `json:"advice"`
}

// cacheFixes is the advice for each package cache rule.
var cacheFixes = map[string]string{
	"apt-lists":      "add `rm -rf /var/lib/apt/lists/*` at the end of the RUN that runs apt-get update",
	"apt-cache":      "add `apt-get clean` to the RUN that runs apt-get install, or mount a cache (RUN --mount=type=cache,target=/var/cache/apt)",
	"apk-cache":      "use `apk add --no-cache`",
	"dnf-cache":      "add `dnf clean all` to the RUN that installs",
	"yum-cache":      "add `yum clean all` to the RUN that installs",
	"pip-cache":      "use `pip install --no-cache-dir`, or mount a cache (RUN --mount=type=cache,target=/root/.cache/pip)",
	"npm-cache":      "add `npm cache clean --force` to the same RUN, or mount a cache at ~/.npm",
	"yarn-cache":     "add `yarn cache clean` to the same RUN, or mount a cache at ~/.cache/yarn",
	"go-build-cache": "mount a cache (RUN --mount=type=cache,target=/root/.cache/go-build), or build in a stage the image does not inherit",
	"go-mod-cache":   "mount a cache (RUN --mount=type=cache,target=/go/pkg/mod), or download modules in a build stage",
}

// docRules are the waste rules of the "docs" suggestion.
var docRules = []string{"docs", "man", "info"}

// ruleWhat names what a default rule matches ("apt package lists"), from
// its reason.
func ruleWhat(rule string) string {
	for _, r := range DefaultRules {
		if r.Name == rule {
			what, _, _ := strings.Cut(r.Reason, ":")
			return what
		}
	}
	return rule + " files"
}

// sugKey groups findings into one suggestion.
type sugKey struct {
	kind, rule string
	layer, by  int
}

// suggest turns v's findings into suggestions, largest saving first.
func suggest(v *Variant) []Suggestion {
	groups := map[sugKey]*Suggestion{}
	paths := map[sugKey][]wasteItem{}
	for _, it := range v.findings {
		k, ok := classify(v, it)
		if !ok {
			continue
		}
		s := groups[k]
		if s == nil {
			s = &Suggestion{Kind: k.kind, Layer: k.layer, LaterLayer: k.by, Rule: k.rule}
			groups[k] = s
		}
		s.Bytes += it.size
		s.Files++
		paths[k] = append(paths[k], it)
	}
	out := []Suggestion{}
	for k, s := range groups {
		ps := paths[k]
		slices.SortFunc(ps, func(a, b wasteItem) int {
			return cmp.Or(cmp.Compare(b.size, a.size), cmp.Compare(a.path, b.path))
		})
		s.Examples = []string{}
		for i := 0; i < len(ps) && i < maxExamples; i++ {
			s.Examples = append(s.Examples, ps[i].path)
		}
		if k.kind == "docs" {
			var rules []string
			for _, r := range docRules {
				if slices.ContainsFunc(ps, func(it wasteItem) bool { return it.rule == r }) {
					rules = append(rules, r)
				}
			}
			s.Rule = strings.Join(rules, ", ")
		}
		s.Step, s.Location, s.Base = v.stepOf(s.Layer)
		if s.LaterLayer >= 0 {
			s.LaterStep, s.LaterLocation, _ = v.stepOf(s.LaterLayer)
		}
		s.Advice = advise(s)
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b Suggestion) int {
		return cmp.Or(cmp.Compare(b.Bytes, a.Bytes), cmp.Compare(a.Layer, b.Layer), cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Rule, b.Rule))
	})
	return out
}

// classify says which suggestion a waste item belongs to, if any. Caches
// and temporary files in the base are not the build's to fix; its docs are
// (by choosing a slim base).
func classify(v *Variant, it wasteItem) (sugKey, bool) {
	base := v.isBase(it.layer)
	switch {
	case it.kind == "overwritten" && it.same && it.by != it.layer:
		return sugKey{kind: "chmod", layer: it.layer, by: it.by}, true
	case it.kind == "deleted" && it.by != it.layer:
		return sugKey{kind: "delete-later", layer: it.layer, by: it.by}, true
	case it.kind != "rule":
		return sugKey{}, false
	case slices.Contains(docRules, it.rule):
		return sugKey{kind: "docs", layer: it.layer, by: -1}, true
	case base:
		return sugKey{}, false
	case cacheFixes[it.rule] != "":
		return sugKey{kind: "package-cache", rule: it.rule, layer: it.layer, by: -1}, true
	case it.rule == "tmp":
		return sugKey{kind: "tmp", rule: it.rule, layer: it.layer, by: -1}, true
	}
	return sugKey{}, false
}

// stepOf returns the instruction and location of the step that made
// layer i (its history entry when no step did) and whether it is a base
// layer.
func (v *Variant) stepOf(i int) (instr, loc string, base bool) {
	for _, s := range v.Steps {
		if s.Layer == i {
			instr, loc = s.Instruction, s.Location
			break
		}
	}
	if i >= 0 && i < len(v.Layers) && instr == "" {
		instr = v.Layers[i].CreatedBy
	}
	return instr, loc, v.isBase(i)
}

// isBase says whether layer i is the base image's. When no layer is marked
// (an image inspected alone), the bottom layer is taken for the base.
func (v *Variant) isBase(i int) bool {
	if i < 0 || i >= len(v.Layers) {
		return false
	}
	if v.Layers[i].Base {
		return true
	}
	return i == 0 && !slices.ContainsFunc(v.Layers, func(l *Layer) bool { return l.Base })
}

// stepKind is "copy" for COPY and ADD, "run" for RUN (or a shell history
// entry) and "" otherwise.
func stepKind(instr string) string {
	switch kw := keyword(instr); {
	case kw == "COPY" || kw == "ADD":
		return "copy"
	case kw == "RUN" || strings.HasPrefix(instr, "/bin/sh -c"):
		return "run"
	}
	return ""
}

// stepName is how advice names a step: its Dockerfile line and instruction,
// or its layer.
func stepName(layer int, instr, loc string, base bool) string {
	if loc != "" {
		return loc + " (" + truncate(instr, 60) + ")"
	}
	if base {
		return fmt.Sprintf("base layer %d", layer)
	}
	if instr != "" {
		return fmt.Sprintf("layer %d (%s)", layer, truncate(instr, 60))
	}
	return fmt.Sprintf("layer %d", layer)
}

// advise writes the advice of s.
func advise(s *Suggestion) string {
	writer := stepName(s.Layer, s.Step, s.Location, s.Base)
	later := stepName(s.LaterLayer, s.LaterStep, s.LaterLocation, false)
	switch s.Kind {
	case "chmod":
		switch {
		case s.Base:
			return fmt.Sprintf("%s rewrites %s of the base image only to change their mode, owner or times, so the image carries them twice: change only files the build adds", later, nfiles(s.Files))
		case stepKind(s.Step) == "copy":
			return fmt.Sprintf("%s rewrites %s that %s copied, only to change their mode, owner or times: set them while copying (COPY --chmod/--chown) and drop the chmod/chown", later, nfiles(s.Files), writer)
		}
		return fmt.Sprintf("%s rewrites %s that %s wrote, only to change their mode, owner or times: change them in the RUN that writes them", later, nfiles(s.Files), writer)
	case "delete-later":
		switch {
		case s.Base:
			return fmt.Sprintf("%s deletes %s of the base image, which stay in its layer: use a smaller base, or copy what the image needs onto one (multi-stage)", later, nfiles(s.Files))
		case stepKind(s.Step) == "copy":
			return fmt.Sprintf("%s deletes %s that %s copied: keep them out of the copy (.dockerignore, a narrower source) or copy them into a build stage and COPY --from only what the image needs", later, nfiles(s.Files), writer)
		}
		return fmt.Sprintf("%s deletes %s that %s wrote: delete them in that same RUN, or write them in a build stage and COPY --from only what the image needs", later, nfiles(s.Files), writer)
	case "package-cache":
		return fmt.Sprintf("%s leaves the %s in the image: %s", writer, ruleWhat(s.Rule), cacheFixes[s.Rule])
	case "docs":
		var what []string
		for _, r := range strings.Split(s.Rule, ", ") {
			what = append(what, ruleWhat(r))
		}
		if len(what) > 1 {
			what = []string{strings.Join(what[:len(what)-1], ", "), what[len(what)-1]}
		}
		if s.Base {
			return fmt.Sprintf("%s carries %s: a slim base leaves them out (`debian:*-slim` excludes /usr/share/doc, man and info with dpkg path-exclude)", writer, strings.Join(what, " and "))
		}
		return fmt.Sprintf("%s installs %s: exclude them before installing (dpkg path-exclude in /etc/dpkg/dpkg.cfg.d/) or delete them in the same RUN", writer, strings.Join(what, " and "))
	case "tmp":
		return fmt.Sprintf("%s leaves files in /tmp or /var/tmp: delete them in the same step, or mount a tmpfs (RUN --mount=type=tmpfs,target=/tmp)", writer)
	}
	return ""
}

// maxShown bounds the suggestions the rendered reports list per variant
// (the JSON has them all).
const maxShown = 10

// suggestionBlock is one variant's suggestions as rendered: a heading and
// one line each, or a single sentence when there are none.
type suggestionBlock struct {
	heading string
	lines   []string
}

// suggestionBlocks lays out the suggestions: those every variant shares
// (the same sentence: same steps, bytes and files) once, then each
// variant's own.
func (r *Report) suggestionBlocks() []suggestionBlock {
	var out []suggestionBlock
	common := r.commonSuggestions()
	if len(common) > 0 {
		out = append(out, listBlock("Suggestions for every variant, largest saving first (file content bytes):", common))
	}
	for _, v := range r.Variants {
		var own []Suggestion
		for _, s := range v.Suggestions {
			if !slices.ContainsFunc(common, func(c Suggestion) bool { return c.line() == s.line() }) {
				own = append(own, s)
			}
		}
		switch {
		case len(own) > 0:
			out = append(out, listBlock("Suggestions for "+v.Name+", largest saving first (file content bytes):", own))
		case len(common) > 0:
			out = append(out, suggestionBlock{heading: "No other suggestions for " + v.Name + "."})
		default:
			out = append(out, suggestionBlock{heading: "No suggestions for " + v.Name + ": no step leaves caches, temporary files or docs, or deletes or rewrites files an earlier step wrote."})
		}
	}
	return out
}

// commonSuggestions are the first variant's suggestions that every other
// variant has too (none for a single variant).
func (r *Report) commonSuggestions() []Suggestion {
	if len(r.Variants) < 2 {
		return nil
	}
	var out []Suggestion
	for _, s := range r.Variants[0].Suggestions {
		in := func(v *Variant) bool {
			return slices.ContainsFunc(v.Suggestions, func(o Suggestion) bool { return o.line() == s.line() })
		}
		if !slices.ContainsFunc(r.Variants[1:], func(v *Variant) bool { return !in(v) }) {
			out = append(out, s)
		}
	}
	return out
}

// listBlock lists at most maxShown suggestions under heading.
func listBlock(heading string, ss []Suggestion) suggestionBlock {
	b := suggestionBlock{heading: heading}
	for i, s := range ss {
		if i == maxShown {
			b.lines = append(b.lines, fmt.Sprintf("... and %d more (the JSON report lists them all).", len(ss)-i))
			break
		}
		b.lines = append(b.lines, s.line())
	}
	return b
}

// line is the suggestion as one rendered sentence.
func (s Suggestion) line() string {
	ex := ""
	if len(s.Examples) > 0 {
		ex = " (largest: " + truncate(s.Examples[0], 60) + ")"
	}
	return fmt.Sprintf("saves %s in %s: %s%s.", size(s.Bytes), nfiles(s.Files), s.Advice, ex)
}

// nfiles is "1 file" or "N files".
func nfiles(n int) string {
	if n == 1 {
		return "1 file"
	}
	return fmt.Sprintf("%d files", n)
}
