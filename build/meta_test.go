package build

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/validate"

	"github.com/ibuild/ibuild/layer"
)

// TestConfigApplier applies config instructions with no builder, as import
// does, and with a build's build args and global ARGs.
func TestConfigApplier(t *testing.T) {
	global := newArgScope()
	global.set("G", "global")
	build := configApplier{epoch: time.Unix(5, 0), buildArgs: map[string]string{"B": "from-flag"}, global: global}
	bare := configApplier{epoch: time.Unix(5, 0)}
	cases := []struct {
		name    string
		a       configApplier
		lines   []string
		check   func(st *stageState) any
		want    any
		wantErr bool
	}{
		{name: "env and label", a: bare, lines: []string{"ENV A=1 B=2", "LABEL x=y"},
			check: func(st *stageState) any { return []any{st.cfg.Config.Env, st.cfg.Config.Labels} },
			want:  []any{[]string{"PATH=" + defaultPath, "A=1", "B=2"}, map[string]string{"x": "y"}}},
		{name: "expose range", a: bare, lines: []string{"EXPOSE 80 1000-1001/udp"},
			check: func(st *stageState) any { return len(st.cfg.Config.ExposedPorts) }, want: 3},
		{name: "entrypoint resets inherited cmd", a: bare, lines: []string{`ENTRYPOINT ["e"]`},
			check: func(st *stageState) any { return st.cfg.Config.Cmd }, want: []string(nil)},
		{name: "cmd then entrypoint keeps cmd", a: bare, lines: []string{"CMD run", `ENTRYPOINT ["e"]`},
			check: func(st *stageState) any { return st.cfg.Config.Cmd }, want: []string{"/bin/sh", "-c", "run"}},
		{name: "arg from flag, default, global", a: build, lines: []string{"ARG B=default D=dflt G"},
			check: func(st *stageState) any { return st.args.pairs() }, want: []string{"B=from-flag", "D=dflt", "G=global"}},
		{name: "arg without value or global", a: bare, lines: []string{"ARG X"},
			check: func(st *stageState) any { return len(st.args.pairs()) }, want: 0},
		{name: "history", a: bare, lines: []string{"USER u", "STOPSIGNAL TERM"},
			check: func(st *stageState) any {
				var out []string
				for _, h := range st.cfg.History {
					out = append(out, h.CreatedBy)
				}
				return out
			}, want: []string{"USER u", "STOPSIGNAL TERM"}},
		{name: "bad signal", a: bare, lines: []string{"STOPSIGNAL NOPE"}, wantErr: true},
		{name: "not a config instruction", a: bare, lines: []string{"COPY a b"}, wantErr: true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			st := scratchState(hostPlatform())
			st.cfg.Config.Cmd = []string{"inherited"}
			var err error
			for _, l := range c.lines {
				cmd, perr := parseTrigger(l)
				if perr != nil {
					t.Fatal(perr)
				}
				if err = c.a.apply(st, cmd); err != nil {
					break
				}
			}
			if (err != nil) != c.wantErr {
				t.Fatalf("err = %v, want error %v", err, c.wantErr)
			}
			if c.wantErr {
				return
			}
			if got := c.check(st); !reflect.DeepEqual(got, c.want) {
				t.Errorf("got %#v, want %#v", got, c.want)
			}
		})
	}
}

// TestImportChanges imports a directory with --change instructions, which
// need no builder, and checks the stored image.
func TestImportChanges(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := testStore(t)
	res, err := Import(ctx, ImportOptions{Source: dir, Store: store, Compression: layer.Gzip, Tags: []string{"example.com/imp:1"},
		Changes: []string{"ENV A=1", `CMD ["sh"]`, "ARG X", "WORKDIR app"}})
	if err != nil {
		t.Fatal(err)
	}
	if err := validate.Image(res.Image); err != nil {
		t.Fatal(err)
	}
	cf, err := res.Image.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(cf.Config.Env, []string{"A=1"}) || !reflect.DeepEqual(cf.Config.Cmd, []string{"sh"}) || cf.Config.WorkingDir != "/app" {
		t.Errorf("config %+v", cf.Config)
	}
	if len(res.Layers) != 1 || len(cf.History) != 5 {
		t.Errorf("%d layers, %d history entries; want 1 and 5", len(res.Layers), len(cf.History))
	}
	if _, err := Import(ctx, ImportOptions{Source: dir, Store: store, Changes: []string{"RUN x"}}); err == nil {
		t.Error("a RUN --change was accepted")
	}
}
