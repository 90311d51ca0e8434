package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestSecretMountOptions: RUN --mount=type=secret honours mode, uid, gid,
// env and required with BuildKit's defaults (0400, root:root), whatever the
// host file's own mode and owner, under both isolation engines.
func TestSecretMountOptions(t *testing.T) {
	forEngines(t, func(t *testing.T, eng []string) {
		root := busyboxRoot(t)
		secret := filepath.Join(t.TempDir(), "tok")
		if err := os.WriteFile(secret, []byte("s3cret"), 0o640); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(secret, 1234, 1234); err != nil {
			t.Fatal(err)
		}
		df := "FROM busybox\n" +
			"RUN echo 'app:x:1000:1000::/:/bin/sh' >> /etc/passwd && mkdir -m 777 /out\n" +
			"RUN --mount=type=secret,id=tok stat -c '%a %u %g' /run/secrets/tok > /out/default\n" +
			"RUN --mount=type=secret,id=tok,env=TOK sh -c 'echo \"$TOK\" > /out/env; test -e /run/secrets/tok && echo file >> /out/env || true'\n" +
			"RUN --mount=type=secret,id=tok,env=TOK2,target=/s/tok sh -c 'echo \"$TOK2\" $(cat /s/tok) > /out/both'\n" +
			"RUN --mount=type=secret,id=missing sh -c 'test -e /run/secrets/missing && echo present > /out/missing || echo absent > /out/missing'\n" +
			"USER app\n" +
			"RUN --mount=type=secret,id=tok,mode=0444 sh -c 'cat /run/secrets/tok > /out/app; stat -c \" %a %u %g\" /run/secrets/tok >> /out/app'\n" +
			"RUN --mount=type=secret,id=tok,uid=1000,gid=1000,target=/home/tok sh -c 'cat /home/tok > /out/owned; stat -c \" %a %u %g\" /home/tok >> /out/owned'\n"
		local := filepath.Join(t.TempDir(), "fs")
		mustBuild(t, df, append([]string{"--root", root, "--secret", "id=tok,src=" + secret, "-o", "type=local,dest=" + local}, eng...)...)
		want := map[string]string{
			"default": "400 0 0",
			"env":     "s3cret",
			"both":    "s3cret s3cret",
			"missing": "absent",
			"app":     "s3cret 444 0 0",
			"owned":   "s3cret 400 1000 1000",
		}
		for name, w := range want {
			b, err := os.ReadFile(filepath.Join(local, "out", name))
			if got := strings.TrimSpace(string(b)); err != nil || got != w {
				t.Errorf("/out/%s = %q, %v; want %q", name, got, err, w)
			}
		}
		if _, err := os.Stat(filepath.Join(local, "home", "tok")); err == nil {
			t.Errorf("the secret's mount point /home/tok was left in the image")
		}

		r := buildDockerfile(t, "FROM busybox\nRUN --mount=type=secret,id=nope,required=true true\n", append([]string{"--root", root}, eng...)...)
		if r.exitCode() != 1 || !strings.Contains(r.stderr, "secret nope: not provided") || !strings.Contains(r.stderr, "Dockerfile:2") {
			t.Errorf("required secret missing: exit %d\n%s", r.exitCode(), r.stderr)
		}
	})
}
