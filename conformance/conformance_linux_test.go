package conformance

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
)

// caseTimeout bounds one builder's build of one case.
const caseTimeout = 5 * time.Minute

// maxDiffs is how many differences a case prints at most.
const maxDiffs = 60

// TestConformance builds every case with BuildKit and with ibuild and
// compares the results. It runs only with IBUILD_CONFORMANCE=1 (`make
// conformance`). One case: `make conformance RUN=env-home`, or
// go test ./conformance -run 'TestConformance/case/env-home$'.
// CONFORMANCE_CASES points it at another cases directory; CONFORMANCE_KEEP=1
// keeps each case's outputs and unpacked bundles (in CONFORMANCE_WORK or a
// printed temporary directory).
func TestConformance(t *testing.T) {
	if os.Getenv("IBUILD_CONFORMANCE") != "1" {
		t.Skip("the BuildKit conformance suite runs with IBUILD_CONFORMANCE=1 (make conformance): " +
			"it needs root, runc, umoci, docker-registry and a buildkitd (hack/buildkit.sh)")
	}
	if os.Geteuid() != 0 {
		t.Skip("the conformance suite needs root (buildkitd, RUN, umoci unpack with owners)")
	}
	dir := os.Getenv("CONFORMANCE_CASES")
	if dir == "" {
		dir = filepath.Join("..", "testdata", "conformance")
	}
	cases, err := LoadAll(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(cases) == 0 {
		t.Fatalf("no cases in %s", dir)
	}
	e := newEnv(t)
	ahead, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	t.Cleanup(func() { stop(); wg.Wait() }) // before the env's own cleanups
	e.prepareAhead(ahead, &wg, cases)
	start := time.Now()
	var mu sync.Mutex
	var ran, equivalent int
	var different []string
	t.Run("case", func(t *testing.T) {
		for _, c := range cases {
			t.Run(c.Name, func(t *testing.T) {
				t.Parallel()
				began := time.Now()
				diffs := e.check(t, c)
				mu.Lock()
				defer mu.Unlock()
				ran++
				if len(diffs) == 0 {
					equivalent++
					fmt.Printf("equivalent %s (%.1fs)\n", c.Name, time.Since(began).Seconds())
					return
				}
				different = append(different, c.Name)
				if len(diffs) > maxDiffs {
					diffs = append(diffs[:maxDiffs:maxDiffs], fmt.Sprintf("... and %d more differences (CONFORMANCE_KEEP=1 keeps both images)", len(diffs)-maxDiffs))
				}
				fmt.Printf("DIFFERENT  %s (%.1fs)\n", c.Name, time.Since(began).Seconds())
				t.Errorf("%s differs (from %s):\n  %s", c.Name, c.From, strings.Join(diffs, "\n  "))
			})
		}
	})
	sort.Strings(different)
	if len(different) > 0 {
		fmt.Printf("different: %s\n", strings.Join(different, " "))
	}
	fmt.Printf("conformance: %d cases, %d equivalent, %d different (%s, %.0fs)\n",
		ran, equivalent, len(different), dir, time.Since(start).Seconds())
}

// prepareAhead starts importing and pushing, in the background, the bases
// (other than busybox) that the cases selected by -run use: the Debian base
// takes the better part of a minute, which would otherwise start whenever its
// first case happens to run.
func (e *env) prepareAhead(ctx context.Context, wg *sync.WaitGroup, cases []*Case) {
	pattern := ""
	if f := flag.Lookup("test.run"); f != nil {
		if parts := strings.SplitN(f.Value.String(), "/", 3); len(parts) == 3 {
			pattern = parts[2]
		}
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return
	}
	seen := map[string]bool{}
	for _, c := range cases {
		if !re.MatchString(c.Name) {
			continue
		}
		used, err := usedBases(c)
		if err != nil {
			continue
		}
		for _, b := range used {
			if b.name != "busybox" && !seen[b.name] {
				seen[b.name] = true
				wg.Add(1)
				go func() { defer wg.Done(); _ = e.prepare(ctx, b) }()
			}
		}
	}
}

// result is one builder's outcome for a case.
type result struct {
	out    string // OCI layout directory
	log    []byte // combined output
	err    error
	bundle string
}

// check builds c with both builders and returns the differences (or the
// reasons the case could not be compared).
func (e *env) check(t *testing.T, c *Case) []string {
	ctx, cancel := context.WithTimeout(context.Background(), 2*caseTimeout)
	defer cancel()
	work, err := os.MkdirTemp(e.work, c.Name+"-")
	if err != nil {
		return []string{err.Error()}
	}
	if os.Getenv("CONFORMANCE_KEEP") == "1" {
		t.Logf("kept: %s (context/, commands.txt, bk/ and ib/ layouts, bk-bundle/ and ib-bundle/)", work)
	} else {
		defer os.RemoveAll(work)
	}
	bctx := filepath.Join(work, "context")
	if out, err := exec.Command("cp", "-a", c.ContextDir(), bctx).CombinedOutput(); err != nil {
		return []string{fmt.Sprintf("copying context: %v %s", err, out)}
	}
	if c.Setup != "" {
		cmd := exec.CommandContext(ctx, "sh", "-ec", c.Setup)
		cmd.Dir = bctx
		if out, err := cmd.CombinedOutput(); err != nil {
			return []string{fmt.Sprintf("setup: %v\n%s", err, out)}
		}
	}
	used, err := usedBases(c)
	if err != nil {
		return []string{err.Error()}
	}
	for _, b := range used {
		if err := e.prepare(ctx, b); err != nil {
			return []string{err.Error()}
		}
	}
	var bk, ib result
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); bk = e.buildkit(ctx, c, used, bctx, filepath.Join(work, "bk")) }()
	go func() { defer wg.Done(); ib = e.ibuildBuild(ctx, c, bctx, filepath.Join(work, "ib")) }()
	wg.Wait()
	if c.ExpectError != "" {
		return checkError(c, bk, ib)
	}
	if bk.err != nil {
		return []string{fmt.Sprintf("BuildKit failed (the case must build with BuildKit): %v\n%s", bk.err, tail(bk.log, 25))}
	}
	if ib.err != nil {
		return []string{fmt.Sprintf("ibuild failed, BuildKit built it: %v\n%s", ib.err, tail(ib.log, 25))}
	}
	return compareResults(ctx, c, work, bk, ib)
}

var dockerfileLine = regexp.MustCompile(`Dockerfile:[0-9]+`)

func checkError(c *Case, bk, ib result) []string {
	var d []string
	if bk.err == nil {
		d = append(d, "BuildKit built the case; an expectError case must fail with both builders")
	}
	if ib.err == nil {
		d = append(d, fmt.Sprintf("ibuild built the case; BuildKit failed with:\n%s", tail(bk.log, 10)))
		return d
	}
	if !strings.Contains(string(ib.log), c.ExpectError) {
		d = append(d, fmt.Sprintf("ibuild's error lacks %q:\n%s\nBuildKit's:\n%s", c.ExpectError, tail(ib.log, 10), tail(bk.log, 4)))
	}
	if !dockerfileLine.Match(ib.log) {
		d = append(d, fmt.Sprintf("ibuild's error does not name the Dockerfile line (Dockerfile:N):\n%s", tail(ib.log, 10)))
	}
	return d
}

func (e *env) buildkit(ctx context.Context, c *Case, used []base, bctx, out string) result {
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	args := []string{"--addr", e.bkAddr, "build", "--progress", "plain", "--frontend", "dockerfile.v0",
		"--local", "context=" + bctx, "--local", "dockerfile=" + bctx, "--opt", "filename=Dockerfile",
		"--output", "type=oci,tar=false,dest=" + out}
	for _, b := range used {
		args = append(args, "--opt", "context:"+b.name+"=docker-image://"+e.registry+"/"+b.name)
	}
	for _, k := range sortedKeys(c.BuildArgs) {
		args = append(args, "--opt", "build-arg:"+k+"="+c.BuildArgs[k])
	}
	if c.Target != "" {
		args = append(args, "--opt", "target="+c.Target)
	}
	log, err := run(ctx, e.buildctl, args...)
	record(out, e.buildctl, args)
	return result{out: out, log: log, err: err}
}

func (e *env) ibuildBuild(ctx context.Context, c *Case, bctx, out string) result {
	ctx, cancel := context.WithTimeout(ctx, caseTimeout)
	defer cancel()
	args := []string{"--root", e.ibRoot, "build", "--progress", "plain",
		"-f", filepath.Join(bctx, "Dockerfile"), "-o", "type=oci,dest=" + out}
	for _, k := range sortedKeys(c.BuildArgs) {
		args = append(args, "--build-arg", k+"="+c.BuildArgs[k])
	}
	if c.Target != "" {
		args = append(args, "--target", c.Target)
	}
	args = append(args, bctx)
	log, err := run(ctx, e.ibuild, args...)
	record(out, e.ibuild, args)
	return result{out: out, log: log, err: err}
}

// record appends a builder's command line to commands.txt next to its
// output directory (kept with CONFORMANCE_KEEP=1, to rerun a build by hand).
func record(out, name string, args []string) {
	line := name
	for _, a := range args {
		line += " '" + strings.ReplaceAll(a, "'", `'\''`) + "'"
	}
	f, err := os.OpenFile(filepath.Join(filepath.Dir(out), "commands.txt"), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return
	}
	defer f.Close()
	fmt.Fprintln(f, line)
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

// compareResults unpacks both layouts with umoci and compares the root
// filesystems and the image configs.
func compareResults(ctx context.Context, c *Case, work string, bk, ib result) []string {
	trees := make([]Tree, 2)
	for i, r := range []*result{&bk, &ib} {
		who := []string{"BuildKit", "ibuild"}[i]
		if err := SetRefName(r.out); err != nil {
			return []string{fmt.Sprintf("%s output: %v", who, err)}
		}
		r.bundle = filepath.Join(work, []string{"bk-bundle", "ib-bundle"}[i])
		if out, err := run(ctx, "umoci", "unpack", "--image", r.out+":"+RefName, r.bundle); err != nil {
			return []string{fmt.Sprintf("umoci unpack of %s's image: %v\n%s", who, err, tail(out, 10))}
		}
		t, err := Scan(filepath.Join(r.bundle, "rootfs"))
		if err != nil {
			return []string{err.Error()}
		}
		trees[i] = t
	}
	diffs := CompareTrees(trees[0], trees[1], c.CompareTimes)
	diffs = append(diffs, contentDiffs(trees[0], trees[1], bk.bundle, ib.bundle)...)
	bc, err := ReadConfig(bk.out)
	if err != nil {
		return append(diffs, "BuildKit config: "+err.Error())
	}
	ic, err := ReadConfig(ib.out)
	if err != nil {
		return append(diffs, "ibuild config: "+err.Error())
	}
	return append(diffs, CompareConfigs(bc, ic)...)
}

// contentDiffs shows, for small text files whose contents differ, the lines
// only BuildKit's (-) or only ibuild's (+) copy has.
func contentDiffs(ref, got Tree, refBundle, gotBundle string) []string {
	var out []string
	for _, p := range sortedPaths(ref) {
		r, g := ref[p], got[p]
		if g == nil || r.Type != "file" || g.Type != "file" || r.Digest == g.Digest || r.Size > 8192 || g.Size > 8192 {
			continue
		}
		rb, err1 := os.ReadFile(filepath.Join(refBundle, "rootfs", p))
		gb, err2 := os.ReadFile(filepath.Join(gotBundle, "rootfs", p))
		if err1 != nil || err2 != nil || !utf8.Valid(rb) || !utf8.Valid(gb) {
			continue
		}
		rl, gl := strings.Split(string(rb), "\n"), strings.Split(string(gb), "\n")
		lines := lineDiff(rl, gl, "-") + lineDiff(gl, rl, "+")
		out = append(out, fmt.Sprintf("%s content (- BuildKit only, + ibuild only):%s", p, lines))
	}
	return out
}

func lineDiff(a, b []string, mark string) string {
	in := map[string]bool{}
	for _, l := range b {
		in[l] = true
	}
	var s string
	for _, l := range a {
		if !in[l] {
			s += "\n      " + mark + " " + l
		}
	}
	return s
}

func sortedPaths(t Tree) []string {
	ps := make([]string, 0, len(t))
	for p := range t {
		ps = append(ps, p)
	}
	sort.Strings(ps)
	return ps
}
