package report

import (
	"context"
	"strings"
	"testing"
)

const dpkgBase = `Package: libc6
Status: install ok installed
Installed-Size: 12000
Version: 2.36-9

Package: removed
Status: deinstall ok config-files
Installed-Size: 5
Version: 1
`

const dpkgMore = dpkgBase + `
Package: hello
Status: install ok installed
Installed-Size: 100
Version: 2.10-3
Description: example
 continuation: line
`

// sampleSpecs is a base with a dpkg database, a step that installs a
// package and leaves apt lists behind, a step that deletes and overwrites
// files, and an ENV.
func sampleSpecs() []layerSpec {
	return []layerSpec{
		{"ibuild import", []entry{
			{name: "bin/", typ: '5'}, {name: "bin/sh", body: strings.Repeat("s", 1000)},
			{name: "etc/motd", body: strings.Repeat("m", 300)},
			{name: "var/lib/dpkg/status", body: dpkgBase},
			{name: "usr/share/doc/libc6/copyright", body: strings.Repeat("c", 200)},
			{name: "old/", typ: '5'}, {name: "old/a", body: "aaaa"}, {name: "old/sub/b", body: "bbbbbb"},
		}},
		{"RUN /bin/sh -c apt-get install hello # buildkit", []entry{
			{name: "var/lib/dpkg/status", body: dpkgMore},
			{name: "var/lib/apt/lists/deb.debian.org_Packages", body: strings.Repeat("p", 5000)},
			{name: "var/lib/apt/lists/lock"},
			{name: "usr/bin/hello", body: strings.Repeat("h", 700)},
			{name: "home/u/.cache/pip/http/x", body: strings.Repeat("x", 40)},
		}},
		{"ENV A=b", nil},
		{"RUN /bin/sh -c rm -rf /old && echo >/etc/motd # buildkit", []entry{
			{name: ".wh.old"}, {name: "etc/motd", body: "\n"},
		}},
		{"COPY app /opt/", []entry{
			{name: "opt/", typ: '5'}, {name: "opt/.wh..wh..opq"}, {name: "opt/app", body: "app"},
			{name: "link", body: "opt/app", typ: '2'},
		}},
	}
}

func TestAnalyze(t *testing.T) {
	img, tars := testImage(t, sampleSpecs())
	v, err := Analyze(context.Background(), img, nil)
	if err != nil {
		t.Fatal(err)
	}
	m, _ := img.Manifest()
	if len(v.Layers) != len(m.Layers) {
		t.Fatalf("%d layers, want %d", len(v.Layers), len(m.Layers))
	}
	for i, l := range v.Layers {
		if l.Compressed != m.Layers[i].Size {
			t.Errorf("layer %d compressed = %d, manifest says %d", i, l.Compressed, m.Layers[i].Size)
		}
		if l.Uncompressed != int64(len(tars[i])) {
			t.Errorf("layer %d uncompressed = %d, tar stream is %d bytes", i, l.Uncompressed, len(tars[i]))
		}
	}
	checks := []struct {
		name      string
		got, want int64
	}{
		{"layer 1 files", int64(v.Layers[1].Files), 5},
		{"layer 2 deletes", int64(v.Layers[2].Deletes), 1},
		// /old/a, /old/sub/b deleted; /etc/motd and the dpkg status overwritten.
		{"shadowed", v.Waste.Shadowed, 4 + 6 + 300 + int64(len(dpkgBase))},
		// apt lists 5000 + pip 40 + docs 200; the empty lock counts nothing.
		{"rules", v.Waste.Rules, 5000 + 40 + 200},
		{"layer 0 waste", v.Layers[0].WasteBytes, 310 + 200 + int64(len(dpkgBase))},
		{"layer 1 waste", v.Layers[1].WasteBytes, 5040},
		{"final files", int64(v.Files), 10}, // sh motd status copyright Packages lock hello x app link
		{"packages", int64(v.Packages.Count), 2},
		{"package bytes", v.Packages.Bytes, (12000 + 100) * 1024},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %d, want %d", c.name, c.got, c.want)
		}
	}
	if p := v.Packages.List[0]; p.Name != "hello" || p.Layer != 1 || p.Version != "2.10-3" {
		t.Errorf("package 0 = %+v, want hello 2.10-3 from layer 1", p)
	}
	// dive: Σ min / Σ sum over paths seen; motd 300+1 (min 1), old/a 4+0, old/sub/b 6+0.
	var sum, lo float64 = 0, 0
	for _, e := range [][2]float64{{1000, 1000}, {301, 1}, {float64(len(dpkgBase) + len(dpkgMore)), float64(len(dpkgBase))},
		{200, 200}, {4, 0}, {6, 0}, {5000, 5000}, {0, 0}, {700, 700}, {40, 40}, {3, 3}, {0, 0}} {
		sum, lo = sum+e[0], lo+e[1]
	}
	if want := lo / sum; v.Efficiency != want {
		t.Errorf("efficiency = %v, want %v", v.Efficiency, want)
	}
	if len(v.Steps) != 5 || v.Steps[2].Layer != -1 || v.Steps[1].Instruction != "RUN /bin/sh -c apt-get install hello" {
		t.Errorf("steps = %+v", v.Steps)
	}
	g := v.Waste.Groups[0]
	if g.Kind != "rule" || g.Rule != "apt-lists" || g.Layer != 1 || g.Bytes != 5000 {
		t.Errorf("largest waste group = %+v, want apt-lists in layer 1", g)
	}
}
