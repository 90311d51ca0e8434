package report

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
)

// builtVariant analyses an image made of specs as if built from a
// Dockerfile: layer 0 is the base, and the step of layer i is at
// Dockerfile:i+1.
func builtVariant(t *testing.T, specs []layerSpec) *Variant {
	t.Helper()
	img, _ := testImage(t, specs)
	v, err := Analyze(context.Background(), img, nil)
	if err != nil {
		t.Fatal(err)
	}
	var steps []BuildStep
	for i, s := range specs[1:] {
		steps = append(steps, BuildStep{Instruction: strings.TrimSuffix(s.createdBy, " # buildkit"),
			Location: fmt.Sprintf("Dockerfile:%d", i+2), Layer: i + 1, LayerDigest: v.Layers[i+1].Digest})
	}
	if err := v.SetBuildSteps(steps); err != nil {
		t.Fatal(err)
	}
	v.Name = "v"
	return v
}

func TestSuggestions(t *testing.T) {
	base := layerSpec{"ibuild import", []entry{{name: "bin/sh", body: strings.Repeat("s", 100)},
		{name: "etc/conf", body: strings.Repeat("c", 300)}, {name: "usr/share/doc/sh/copyright", body: strings.Repeat("d", 70)},
		{name: "usr/share/man/man1/sh.1", body: strings.Repeat("m", 30)}, {name: "var/cache/apk/APKINDEX", body: "apk"}}}
	app := []entry{{name: "app/a", body: strings.Repeat("a", 1000)}, {name: "app/b", body: strings.Repeat("b", 500)}}
	type want struct {
		kind         string
		layer, later int
		bytes        int64
		files        int
		location     string // the step that wrote the bytes
		advice       string // a phrase the advice contains
	}
	docs := want{"docs", 0, -1, 100, 2, "", "base layer 0 carries documentation and man pages: a slim base leaves them out"}
	cases := []struct {
		name  string
		specs []layerSpec
		want  []want
	}{
		{"chmod after COPY", []layerSpec{base, {"COPY app /app/", app}, {"RUN chmod -R 755 /app", app}},
			[]want{{"chmod", 1, 2, 1500, 2, "Dockerfile:2", "Dockerfile:3 (RUN chmod -R 755 /app) rewrites 2 files that Dockerfile:2 (COPY app /app/) copied, only to change their mode, owner or times: set them while copying (COPY --chmod/--chown)"}, docs}},
		{"chown after RUN", []layerSpec{base, {"RUN make", app[:1]}, {"RUN chown 1000 /app/a", app[:1]}},
			[]want{{"chmod", 1, 2, 1000, 1, "Dockerfile:2", "change them in the RUN that writes them"}, docs}},
		{"chown of base files", []layerSpec{base, {"RUN chown -R 1000 /etc", []entry{{name: "etc/conf", body: strings.Repeat("c", 300)}}}},
			[]want{{"chmod", 0, 1, 300, 1, "", "Dockerfile:2 (RUN chown -R 1000 /etc) rewrites 1 file of the base image"}, docs}},
		{"changed content is no chmod", []layerSpec{base, {"RUN sed -i s/c/d/ /etc/conf", []entry{{name: "etc/conf", body: strings.Repeat("d", 300)}}}},
			[]want{docs}},
		{"deleted by a later RUN", []layerSpec{base, {"RUN fetch > /src.tgz", []entry{{name: "src.tgz", body: strings.Repeat("z", 4000)}}},
			{"RUN tar xf /src.tgz && rm /src.tgz", []entry{{name: "src/x", body: "x"}, {name: ".wh.src.tgz"}}}},
			[]want{{"delete-later", 1, 2, 4000, 1, "Dockerfile:2", "Dockerfile:3 (RUN tar xf /src.tgz && rm /src.tgz) deletes 1 file that Dockerfile:2 (RUN fetch > /src.tgz) wrote: delete them in that same RUN"}, docs}},
		{"copied then deleted", []layerSpec{base, {"COPY . /app/", app}, {"RUN rm -rf /app", []entry{{name: ".wh.app"}}}},
			[]want{{"delete-later", 1, 2, 1500, 2, "Dockerfile:2", "keep them out of the copy (.dockerignore"}, docs}},
		{"base files deleted", []layerSpec{base, {"RUN rm /bin/sh", []entry{{name: "bin/.wh.sh"}}}},
			[]want{{"delete-later", 0, 1, 100, 1, "", "deletes 1 file of the base image, which stay in its layer: use a smaller base"}, docs}},
		{"package caches", []layerSpec{base, {"RUN apt-get update && apt-get install -y hello", []entry{
			{name: "var/lib/apt/lists/deb_Packages", body: strings.Repeat("p", 2000)},
			{name: "var/cache/apt/archives/hello.deb", body: strings.Repeat("h", 800)},
			{name: "usr/share/doc/hello/README", body: strings.Repeat("r", 50)},
			{name: "tmp/build.log", body: strings.Repeat("l", 20)}}}},
			[]want{{"package-cache", 1, -1, 2000, 1, "Dockerfile:2", "leaves the apt package lists in the image: add `rm -rf /var/lib/apt/lists/*`"},
				{"package-cache", 1, -1, 800, 1, "Dockerfile:2", "add `apt-get clean`"}, docs,
				{"docs", 1, -1, 50, 1, "Dockerfile:2", "installs documentation: exclude them before installing (dpkg path-exclude"},
				{"tmp", 1, -1, 20, 1, "Dockerfile:2", "leaves files in /tmp or /var/tmp"}}},
		{"nothing to suggest", []layerSpec{{"ibuild import", []entry{{name: "bin/sh", body: "s"}}}, {"COPY app /app/", app}}, nil},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			v := builtVariant(t, c.specs)
			New("inspect", []*Variant{v}, nil)
			var got []string
			for _, s := range v.Suggestions {
				got = append(got, fmt.Sprintf("%s %d>%d %d/%d %s: %s", s.Kind, s.Layer, s.LaterLayer, s.Bytes, s.Files, s.Location, s.Advice))
			}
			if len(v.Suggestions) != len(c.want) {
				t.Fatalf("%d suggestions, want %d:\n%s", len(v.Suggestions), len(c.want), strings.Join(got, "\n"))
			}
			for i, w := range c.want {
				s := v.Suggestions[i]
				if s.Kind != w.kind || s.Layer != w.layer || s.LaterLayer != w.later || s.Bytes != w.bytes || s.Files != w.files ||
					s.Location != w.location || !strings.Contains(s.Advice, w.advice) {
					t.Errorf("suggestion %d:\n got %s\nwant %+v", i, got[i], w)
				}
			}
		})
	}
}

// TestSuggestionsInspected: an image analysed alone has no marked base;
// its bottom layer is taken for it (docs there call for a slim base, and
// its caches are not the build's to fix).
func TestSuggestionsInspected(t *testing.T) {
	img, _ := testImage(t, []layerSpec{
		{"ADD file:0123 in /", []entry{{name: "usr/share/doc/a/README", body: "readme"}, {name: "var/cache/apt/x.deb", body: "deb"}}},
		{"RUN /bin/sh -c make", []entry{{name: "usr/share/doc/b/README", body: "more docs"}}},
	})
	v, err := Analyze(context.Background(), img, nil)
	if err != nil {
		t.Fatal(err)
	}
	v.Name = "img"
	New("inspect", []*Variant{v}, nil)
	var got []string
	for _, s := range v.Suggestions {
		got = append(got, fmt.Sprintf("%s %d base=%v: %s", s.Kind, s.Layer, s.Base, s.Advice))
	}
	want := []string{
		"docs 1 base=false: layer 1 (RUN /bin/sh -c make) installs documentation: exclude them before installing (dpkg path-exclude in /etc/dpkg/dpkg.cfg.d/) or delete them in the same RUN",
		"docs 0 base=true: base layer 0 carries documentation: a slim base leaves them out (`debian:*-slim` excludes /usr/share/doc, man and info with dpkg path-exclude)",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("suggestions:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// TestSuggestionsRendered checks that every format lists the suggestions
// after the answer and before the first table, those of every variant
// once, and one sentence for a variant without any.
func TestSuggestionsRendered(t *testing.T) {
	r := sampleReport(t)
	alp := r.Variants[1]
	alp.Suggestions = slices.DeleteFunc(alp.Suggestions, func(s Suggestion) bool { return s.Kind != "docs" })
	for _, f := range []string{"table", "markdown", "html", "json"} {
		var buf bytes.Buffer
		if err := Render(&buf, r, f); err != nil {
			t.Fatal(err)
		}
		out := buf.String()
		first := r.Variants[0].Suggestions[0]
		want := []string{"saves 5kB (5000) in 1 file: layer 1 (RUN /bin/sh -c apt-get install hello) leaves the apt package lists",
			"No other suggestions for alpine."}
		if f == "json" {
			want = []string{`"kind": "package-cache"`, `"advice": "` + first.Advice[:40]}
		}
		for _, w := range want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: missing %q:\n%s", f, w, out)
			}
		}
		if f == "json" {
			continue
		}
		// The base's docs are the same in both variants: listed once.
		if n := strings.Count(out, "base layer 0 carries documentation"); n != 1 || !strings.Contains(out, "Suggestions for every variant") {
			t.Errorf("%s: the common suggestion is listed %d times", f, n)
		}
		a, s, tb := strings.Index(out, "Smallest:"), strings.Index(out, "saves 5kB"), strings.Index(strings.ToLower(out), "summary")
		if a > s || s > tb {
			t.Errorf("%s: answer at %d, suggestions at %d, first table at %d", f, a, s, tb)
		}
	}
}

func TestNoSuggestionsIsASentence(t *testing.T) {
	r := &Report{Kind: "inspect", Variants: []*Variant{{Name: "img", Suggestions: []Suggestion{}}}}
	b := r.suggestionBlocks()
	if len(b) != 1 || len(b[0].lines) != 0 || !strings.HasPrefix(b[0].heading, "No suggestions for img: ") {
		t.Errorf("blocks %+v", b)
	}
}
