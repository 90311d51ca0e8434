package main

import (
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/ibuild/ibuild/registry/registrytest"
)

// manifestDigest asks the registry for the digest of host/repo:tag.
func manifestDigest(t *testing.T, host, repo, tag string) string {
	t.Helper()
	req, _ := http.NewRequest(http.MethodHead, "http://"+host+"/v2/"+repo+"/manifests/"+tag, nil)
	req.Header.Set("Accept", "application/vnd.oci.image.manifest.v1+json, application/vnd.docker.distribution.manifest.v2+json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("HEAD %s/%s:%s: %s", host, repo, tag, resp.Status)
	}
	return resp.Header.Get("Docker-Content-Digest")
}

// TestPushOutput: --push says what it pushes, blob by blob, and the pushed
// manifest's digest, which --metadata-file records as BuildKit's
// containerimage.digest (with image.name), also when the push rewrites the
// manifest with Docker media types.
func TestPushOutput(t *testing.T) {
	host := registrytest.Start(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": "pushed\n"})
	for _, tc := range []struct {
		name, tag string
		args      []string
	}{
		{"oci", "1", []string{"--push"}},
		{"docker types", "2", []string{"-o", "type=registry,oci-mediatypes=false"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			repo := "app/img" + tc.tag // a new repository: every blob is uploaded
			ref := host + "/" + repo + ":" + tc.tag
			md, r := buildMeta(t, dir, append([]string{"--root", t.TempDir(), "-t", ref}, tc.args...)...)
			pushed := manifestDigest(t, host, repo, tc.tag)
			if md.ImageDigest != pushed || md.ImageName != ref {
				t.Errorf("metadata digest %s name %s, want the pushed %s and %s", md.ImageDigest, md.ImageName, pushed, ref)
			}
			for _, want := range []string{
				"pushing layers for " + ref + "\n",
				": pushed ",
				fmt.Sprintf("pushing manifest for %s@%s ", ref, pushed),
			} {
				if !strings.Contains(r.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
				}
			}
			if n := len(regexp.MustCompile(`pushing sha256:[0-9a-f]{64}: pushed`).FindAllString(r.stderr, -1)); n != 2 {
				t.Errorf("%d blobs reported pushed, want 2 (the layer and the config):\n%s", n, r.stderr)
			}
		})
	}
	r := mustRun(t, "--root", t.TempDir(), "-q", "-t", host+"/app/img:3", "--push", dir)
	if strings.Contains(r.stderr, "pushing") {
		t.Errorf("-q printed the push:\n%s", r.stderr)
	}
}

// TestPushOutputTTY: on a terminal the push is one redrawn block with a
// line per blob and the byte count, then the pushed digest.
func TestPushOutputTTY(t *testing.T) {
	if _, err := exec.LookPath("script"); err != nil {
		t.Skipf("script (bsdutils) not installed: %v", err)
	}
	host := registrytest.Start(t)
	dir := t.TempDir()
	writeTree(t, dir, map[string]string{"Dockerfile": "FROM scratch\nCOPY f /f\n", "f": strings.Repeat("blob", 1<<16)})
	ref := host + "/app/tty:1"
	cmdline := fmt.Sprintf("env TERM=xterm %s --root %s -t %s --push %s", ibuildBin, filepath.Join(t.TempDir(), "r"), ref, dir)
	out, err := exec.Command("script", "-qec", cmdline, "/dev/null").CombinedOutput()
	if err != nil {
		t.Fatalf("push in a tty: %v\n%s", err, out)
	}
	s := ansi.ReplaceAllString(strings.ReplaceAll(string(out), "\r\n", "\n"), "")
	pushed := manifestDigest(t, host, "app/tty", "1")
	for _, want := range []string{"[+] Pushing " + ref, " => pushing sha256:", ": pushed ", " / ", "pushing manifest for " + ref + "@" + pushed} {
		if !strings.Contains(s, want) {
			t.Errorf("tty output lacks %q:\n%s", want, s)
		}
	}
}
