package build

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"testing"

	"github.com/ibuild/ibuild/progress"
)

const graphDockerfile = `FROM scratch AS a
COPY a.txt /a
FROM scratch AS b
COPY b.txt /b
FROM a AS c
COPY c.txt /c
FROM scratch
COPY --from=b /b /b
COPY --from=c /c /c
COPY --from=c /a /a
`

// graphNames are graphDockerfile's steps, numbered as a build of one stage
// at a time starts them: a stage just before the step that needs it.
var graphNames = map[int]string{
	1:  "[1/10] FROM scratch",
	2:  "[b 2/10] FROM scratch",
	3:  "[b 3/10] COPY b.txt /b",
	4:  "[4/10] COPY --from=b /b /b",
	5:  "[a 5/10] FROM scratch",
	6:  "[a 6/10] COPY a.txt /a",
	7:  "[c 7/10] FROM a",
	8:  "[c 8/10] COPY c.txt /c",
	9:  "[9/10] COPY --from=c /c /c",
	10: "[10/10] COPY --from=c /a /a",
}

// TestPlanSteps checks the step numbers planned before the build.
func TestPlanSteps(t *testing.T) {
	b := testBuilder(t, testStore(t), t.TempDir(), graphDockerfile, nil)
	order, n := b.planSteps(3)
	if want := []int{1, 0, 2, 3}; !reflect.DeepEqual(order, want) || n != 10 {
		t.Errorf("order %v, %d steps; want %v, 10", order, n, want)
	}
	want := map[[2]int]int{{3, 1}: 1, {1, 1}: 2, {1, 2}: 3, {3, 2}: 4, {0, 1}: 5, {0, 2}: 6, {2, 1}: 7, {2, 2}: 8, {3, 3}: 9, {3, 4}: 10}
	if !reflect.DeepEqual(b.stepNo, want) {
		t.Errorf("plan %v, want %v", b.stepNo, want)
	}
	deps, images := b.stageDeps(3)
	if !reflect.DeepEqual(deps, []int{1, 2, 2}) || len(images) != 0 {
		t.Errorf("target deps %v, images %v", deps, images)
	}
	// A base stage's ONBUILD trigger reads with --from in its child;
	// --from an image is pulled ahead.
	b = testBuilder(t, testStore(t), t.TempDir(), `FROM scratch AS dep
COPY a.txt /a
FROM scratch AS base
ONBUILD COPY --from=dep /a /a
FROM base
COPY --from=example.com/img:1 /x /x
RUN --mount=from=dep,target=/m true
`, nil)
	deps, images = b.stageDeps(2)
	if !reflect.DeepEqual(deps, []int{1, 0, 0}) || !reflect.DeepEqual(images, []string{"example.com/img:1"}) {
		t.Errorf("ONBUILD child deps %v, images %v", deps, images)
	}
	if order, n := b.planSteps(2); n != 7 || !reflect.DeepEqual(order, []int{1, 0, 2}) {
		t.Errorf("ONBUILD child: order %v, %d steps planned, want [1 0 2], 7", order, n)
	}
}

// TestBuildGraph builds stages at the same time (under -race in CI) and
// one at a time: the steps keep their numbers, the results their order
// and the image its digest.
func TestBuildGraph(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	for _, f := range []string{"a.txt", "b.txt", "c.txt"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var digests []string
	for _, jobs := range []int{1, 4, 4, 4} {
		rec := &recorder{}
		res, err := Build(ctx, Options{ContextDir: dir, Store: testStore(t), DockerfileData: []byte(graphDockerfile), Progress: rec, Jobs: jobs})
		if err != nil {
			t.Fatalf("--jobs %d: %v", jobs, err)
		}
		names := map[int]string{}
		for _, e := range rec.events {
			if e.Status == progress.StatusStarted {
				names[e.Step] = e.Name
			}
		}
		if !reflect.DeepEqual(names, graphNames) {
			t.Errorf("--jobs %d: steps %v, want %v", jobs, names, graphNames)
		}
		var got []string
		for _, s := range res.Steps {
			got = append(got, s.Name)
		}
		if !sort.SliceIsSorted(got, func(i, j int) bool { return stepNum(got[i]) < stepNum(got[j]) }) || len(got) != 10 {
			t.Errorf("--jobs %d: results %v not in step order", jobs, got)
		}
		digests = append(digests, res.Manifest.Digest.String())
	}
	for _, d := range digests[1:] {
		if d != digests[0] {
			t.Errorf("digests differ: %v", digests)
		}
	}
}

// stepNum is the step number in a name such as "[b 3/10] COPY ...".
func stepNum(name string) int {
	var n int
	for i := 1; i < len(name) && name[i] != '/'; i++ {
		if c := name[i]; c >= '0' && c <= '9' {
			n = n*10 + int(c-'0')
		} else {
			n = 0
		}
	}
	return n
}
