package parser

import (
	"fmt"
	"strings"
	"time"

	"github.com/moby/buildkit/frontend/dockerfile/instructions"
)

// Dump returns a stable, human-readable listing of the parsed Dockerfile:
// directives, meta ARGs, each stage with its commands, their locations and
// key fields, and the warnings. It is meant for golden tests and debugging;
// its format may change.
func (d *Dockerfile) Dump() string {
	var b strings.Builder
	fmt.Fprintf(&b, "file %q escape=%q", d.Name, string(d.Escape))
	if d.Syntax != "" {
		fmt.Fprintf(&b, " syntax=%q", d.Syntax)
	}
	b.WriteByte('\n')
	for i := range d.MetaArgs {
		fmt.Fprintf(&b, "meta %s\n", dumpCommand(d, &d.MetaArgs[i]))
	}
	for i, st := range d.Stages {
		fmt.Fprintf(&b, "stage %d %s FROM %q", i, d.StageLocation(i), st.BaseName)
		if st.Name != "" {
			fmt.Fprintf(&b, " AS %q", st.Name)
		}
		if st.Platform != "" {
			fmt.Fprintf(&b, " platform=%q", st.Platform)
		}
		b.WriteByte('\n')
		for _, cmd := range st.Commands {
			fmt.Fprintf(&b, "  %s\n", dumpCommand(d, cmd))
		}
	}
	for _, w := range d.Warnings {
		fmt.Fprintf(&b, "warning %s\n", w)
	}
	return b.String()
}

// dumpCommand is "LOCATION NAME fields..." for one command.
func dumpCommand(d *Dockerfile, cmd instructions.Command) string {
	f := &fields{}
	f.add(d.CommandLocation(cmd).String())
	f.add(strings.ToUpper(cmd.Name()))
	dumpFields(f, cmd)
	return strings.Join(f.parts, " ")
}

type fields struct{ parts []string }

func (f *fields) add(s string) { f.parts = append(f.parts, s) }

// kv adds key=%q when v is not empty.
func (f *fields) kv(key, v string) {
	if v != "" {
		f.add(fmt.Sprintf("%s=%q", key, v))
	}
}

// list adds key=["a" "b"] when v is not empty.
func (f *fields) list(key string, v []string) {
	if len(v) > 0 {
		f.add(fmt.Sprintf("%s=%q", key, v))
	}
}

// flag adds key when v is true.
func (f *fields) flag(key string, v bool) {
	if v {
		f.add(key)
	}
}

func dumpFields(f *fields, cmd instructions.Command) {
	switch c := cmd.(type) {
	case *instructions.RunCommand:
		dumpRun(f, c)
	case *instructions.CmdCommand:
		dumpCmdLine(f, c.ShellDependantCmdLine)
	case *instructions.EntrypointCommand:
		dumpCmdLine(f, c.ShellDependantCmdLine)
	case *instructions.CopyCommand:
		f.kv("from", c.From)
		f.kv("chown", c.Chown)
		f.kv("chmod", c.Chmod)
		f.flag("link", c.Link)
		f.flag("parents", c.Parents)
		f.list("exclude", c.ExcludePatterns)
		dumpSources(f, c.SourcesAndDest)
	case *instructions.AddCommand:
		f.kv("chown", c.Chown)
		f.kv("chmod", c.Chmod)
		f.flag("link", c.Link)
		f.kv("checksum", c.Checksum)
		f.list("exclude", c.ExcludePatterns)
		if c.KeepGitDir != nil {
			f.add(fmt.Sprintf("keep-git-dir=%t", *c.KeepGitDir))
		}
		if c.Unpack != nil {
			f.add(fmt.Sprintf("unpack=%t", *c.Unpack))
		}
		dumpSources(f, c.SourcesAndDest)
	default:
		dumpSimple(f, cmd)
	}
}

// dumpSimple handles the commands whose fields are a few strings.
func dumpSimple(f *fields, cmd instructions.Command) {
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		dumpKVs(f, c.Env)
	case *instructions.LabelCommand:
		dumpKVs(f, c.Labels)
	case *instructions.ArgCommand:
		for _, a := range c.Args {
			if a.Value == nil {
				f.add(fmt.Sprintf("%q", a.Key))
			} else {
				f.add(fmt.Sprintf("%q=%q", a.Key, *a.Value))
			}
		}
	case *instructions.WorkdirCommand:
		f.kv("path", c.Path)
	case *instructions.UserCommand:
		f.kv("user", c.User)
	case *instructions.ExposeCommand:
		f.list("ports", c.Ports)
	case *instructions.VolumeCommand:
		f.list("volumes", c.Volumes)
	case *instructions.ShellCommand:
		f.list("shell", c.Shell)
	case *instructions.StopSignalCommand:
		f.kv("signal", c.Signal)
	case *instructions.MaintainerCommand:
		f.kv("maintainer", c.Maintainer)
	case *instructions.OnbuildCommand:
		f.kv("expression", c.Expression)
	case *instructions.HealthCheckCommand:
		h := c.Health
		f.list("test", h.Test)
		for _, p := range []struct {
			k string
			v time.Duration
		}{{"interval", h.Interval}, {"timeout", h.Timeout}, {"start-period", h.StartPeriod}, {"start-interval", h.StartInterval}} {
			if p.v != 0 {
				f.add(p.k + "=" + p.v.String())
			}
		}
		if h.Retries != 0 {
			f.add(fmt.Sprintf("retries=%d", h.Retries))
		}
	default:
		f.add(fmt.Sprintf("(%T)", cmd))
	}
}

func dumpKVs(f *fields, kvs instructions.KeyValuePairs) {
	for _, kv := range kvs {
		f.add(fmt.Sprintf("%q=%q", kv.Key, kv.Value))
	}
}

func dumpRun(f *fields, c *instructions.RunCommand) {
	if n := instructions.GetNetwork(c); n != "" && n != instructions.NetworkDefault {
		f.kv("network", n)
	}
	if s := instructions.GetSecurity(c); s != "" && s != instructions.SecuritySandbox {
		f.kv("security", s)
	}
	for _, m := range instructions.GetMounts(c) {
		f.add("mount=" + dumpMount(m))
	}
	dumpCmdLine(f, c.ShellDependantCmdLine)
}

func dumpMount(m *instructions.Mount) string {
	parts := []string{"type=" + string(m.Type)}
	add := func(k, v string) {
		if v != "" {
			parts = append(parts, k+"="+v)
		}
	}
	add("from", m.From)
	add("source", m.Source)
	add("target", m.Target)
	add("id", m.CacheID)
	add("sharing", string(m.CacheSharing))
	if m.ReadOnly {
		parts = append(parts, "ro")
	}
	if m.Required {
		parts = append(parts, "required")
	}
	if m.SizeLimit != 0 {
		parts = append(parts, fmt.Sprintf("size=%d", m.SizeLimit))
	}
	if m.Env != nil {
		parts = append(parts, "env="+*m.Env)
	}
	if m.Mode != nil {
		parts = append(parts, fmt.Sprintf("mode=%o", *m.Mode))
	}
	if m.UID != nil {
		parts = append(parts, fmt.Sprintf("uid=%d", *m.UID))
	}
	if m.GID != nil {
		parts = append(parts, fmt.Sprintf("gid=%d", *m.GID))
	}
	return fmt.Sprintf("%q", strings.Join(parts, ","))
}

func dumpCmdLine(f *fields, c instructions.ShellDependantCmdLine) {
	if c.PrependShell {
		f.add("shell")
	} else {
		f.add("exec")
	}
	f.list("cmd", c.CmdLine)
	for _, file := range c.Files {
		h := fmt.Sprintf("heredoc=%q:%q", file.Name, file.Data)
		if file.Chomp {
			h += ":chomp"
		}
		f.add(h)
	}
}

func dumpSources(f *fields, s instructions.SourcesAndDest) {
	f.list("src", s.SourcePaths)
	for _, sc := range s.SourceContents {
		h := fmt.Sprintf("heredoc=%q:%q", sc.Path, sc.Data)
		if sc.Expand {
			h += ":expand"
		}
		f.add(h)
	}
	f.kv("dest", s.DestPath)
}
