package report

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
)

// sampleReport compares two images that share a base layer.
func sampleReport(t *testing.T) *Report {
	t.Helper()
	specs := sampleSpecs()
	imgA, _ := testImage(t, specs)
	alt := append([]layerSpec{}, specs[:1]...)
	alt = append(alt, layerSpec{"RUN /bin/sh -c apk add hello # buildkit", []entry{
		{name: "var/cache/apk/APKINDEX.tar.gz", body: strings.Repeat("i", 900)},
		{name: "usr/bin/hello", body: strings.Repeat("h", 650)},
	}}, specs[2], specs[4])
	imgB, _ := testImage(t, alt)
	var vs []*Variant
	for i, img := range []v1.Image{imgA, imgB} {
		v, err := Analyze(context.Background(), img, nil)
		if err != nil {
			t.Fatal(err)
		}
		v.Name = []string{"debian", "alpine"}[i]
		v.Source = "test image " + v.Name
		v.BuildTime = time.Second
		vs = append(vs, v)
	}
	SetCommonBase(vs)
	r := New("compare", vs, nil)
	r.StripTimes()
	return r
}

func TestGoldenJSON(t *testing.T) {
	r := sampleReport(t)
	var buf bytes.Buffer
	if err := Render(&buf, r, "json"); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare.json", buf.Bytes())
	// The JSON reads back into the same report.
	var back Report
	if err := json.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	if back.Schema != SchemaVersion || len(back.Variants) != 2 || back.Shared.Layers != 2 { // the base and the identical COPY layer
		t.Errorf("read back schema %q, %d variants, %d shared layers", back.Schema, len(back.Variants), back.Shared.Layers)
	}
}

func TestGoldenMarkdown(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, sampleReport(t), "markdown"); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare.md", buf.Bytes())
}

func TestGoldenText(t *testing.T) {
	var buf bytes.Buffer
	if err := Render(&buf, sampleReport(t), "table"); err != nil {
		t.Fatal(err)
	}
	golden(t, "compare.txt", buf.Bytes())
}

func TestRowsAlign(t *testing.T) {
	r := sampleReport(t)
	var got []string
	for _, row := range r.Rows {
		got = append(got, fmt.Sprintf("%s %d,%d", row.Instruction, row.Cells[0], row.Cells[1]))
	}
	want := []string{
		"RUN /bin/sh -c apt-get install hello | RUN /bin/sh -c apk add hello 0,0",
		"ENV A=b 1,1",
		"RUN /bin/sh -c rm -rf /old && echo >/etc/motd 2,-1",
		"COPY app /opt/ 3,2",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("rows:\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
