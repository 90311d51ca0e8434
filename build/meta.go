package build

import (
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/moby/buildkit/frontend/dockerfile/instructions"
	"github.com/moby/buildkit/frontend/dockerfile/shell"
	"golang.org/x/sys/unix"

	"github.com/ibuild/ibuild/parser"
)

// defaultShell is the shell of an image that sets none.
var defaultShell = []string{"/bin/sh", "-c"}

// defaultPath is docker's PATH for images that do not set one.
const defaultPath = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

func (s *stageState) shell() []string {
	if len(s.cfg.Config.Shell) > 0 {
		return s.cfg.Config.Shell
	}
	return defaultShell
}

// withShell turns a shell-form command line into argv.
func (s *stageState) withShell(line ShellLine) []string {
	if !line.PrependShell {
		return line.CmdLine
	}
	return append(append([]string(nil), s.shell()...), strings.Join(line.CmdLine, " "))
}

// ShellLine is the command line of RUN, CMD or ENTRYPOINT.
type ShellLine = instructions.ShellDependantCmdLine

// configApplier applies the instructions that change only the image config
// (ENV, ARG, LABEL, EXPOSE, CMD and the like) to a stage. A build makes one
// (builder.config); import makes its own for --change, with no builder.
type configApplier struct {
	escape    rune              // the Dockerfile's escape character; 0 is backslash
	epoch     time.Time         // the history entries' creation time
	buildArgs map[string]string // --build-arg values an ARG takes
	global    *argScope         // global ARGs an ARG without a value inherits; nil is none
	used      func(k string)    // records that build arg k was consumed; nil ignores it
}

// config returns the build's config applier.
func (b *builder) config() configApplier {
	return configApplier{escape: b.escape, epoch: b.opt.epoch(), buildArgs: b.opt.BuildArgs, global: b.global, used: b.addUsed}
}

// apply applies an instruction that only changes the image config.
func (a configApplier) apply(st *stageState, cmd instructions.Command) error {
	epoch := a.epoch
	var msg string
	switch c := cmd.(type) {
	case *instructions.EnvCommand:
		var parts []string
		for _, kv := range c.Env {
			st.cfg.Config.Env = setEnv(st.cfg.Config.Env, kv.Key, kv.Value)
			st.env = addEnv(st.env, kv.Key, kv.Value)
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		msg = "ENV " + strings.Join(parts, " ")
	case *instructions.ArgCommand:
		return a.arg(st, c)
	case *instructions.LabelCommand:
		var parts []string
		m := map[string]string{}
		for _, kv := range c.Labels {
			m[kv.Key] = kv.Value
			parts = append(parts, kv.Key+"="+kv.Value)
		}
		st.applyLabels(m)
		msg = "LABEL " + strings.Join(parts, " ")
	case *instructions.MaintainerCommand:
		st.cfg.Author = c.Maintainer
		msg = "MAINTAINER " + c.Maintainer
	case *instructions.ExposeCommand:
		ports, err := a.exposePorts(st, c.Ports)
		if err != nil {
			return err
		}
		if st.cfg.Config.ExposedPorts == nil {
			st.cfg.Config.ExposedPorts = map[string]struct{}{}
		}
		for _, p := range ports {
			st.cfg.Config.ExposedPorts[p] = struct{}{}
		}
		msg = "EXPOSE " + strings.Join(ports, " ")
	case *instructions.VolumeCommand:
		if st.cfg.Config.Volumes == nil {
			st.cfg.Config.Volumes = map[string]struct{}{}
		}
		for _, v := range c.Volumes {
			if strings.TrimSpace(v) == "" {
				return errors.New("VOLUME specified can not be an empty string")
			}
			st.cfg.Config.Volumes[v] = struct{}{}
		}
		msg = "VOLUME " + fmt.Sprint(c.Volumes)
	case *instructions.UserCommand:
		st.cfg.Config.User = c.User
		msg = "USER " + c.User
	case *instructions.WorkdirCommand: // import --change only; builds use workdir()
		st.cfg.Config.WorkingDir = st.workdirPath(c.Path)
		msg = "WORKDIR " + st.cfg.Config.WorkingDir
	case *instructions.CmdCommand:
		st.cfg.Config.Cmd = st.withShell(c.ShellDependantCmdLine)
		st.cmdSet = true
		msg = "CMD " + jsonArgs(st.cfg.Config.Cmd)
	case *instructions.EntrypointCommand:
		st.cfg.Config.Entrypoint = st.withShell(c.ShellDependantCmdLine)
		if !st.cmdSet {
			st.cfg.Config.Cmd = nil
		}
		msg = "ENTRYPOINT " + jsonArgs(st.cfg.Config.Entrypoint)
	case *instructions.ShellCommand:
		st.cfg.Config.Shell = append([]string(nil), c.Shell...)
		msg = "SHELL " + jsonArgs(c.Shell)
	case *instructions.StopSignalCommand:
		if err := validateSignal(c.Signal); err != nil {
			return err
		}
		st.cfg.Config.StopSignal = c.Signal
		msg = "STOPSIGNAL " + c.Signal
	case *instructions.HealthCheckCommand:
		h := c.Health
		st.cfg.Config.Healthcheck = &v1.HealthConfig{Test: h.Test, Interval: h.Interval, Timeout: h.Timeout, StartPeriod: h.StartPeriod, Retries: h.Retries}
		st.healthStartInterval = h.StartInterval
		msg = "HEALTHCHECK " + jsonArgs(h.Test)
	case *instructions.OnbuildCommand:
		st.cfg.Config.OnBuild = append(st.cfg.Config.OnBuild, c.Expression)
		st.ownOnBuild = append(st.ownOnBuild, c.Expression)
		msg = "ONBUILD " + c.Expression
	default:
		return fmt.Errorf("unsupported instruction %s", strings.ToUpper(cmd.Name()))
	}
	st.addHistory(msg, epoch, true)
	st.key = chainKey(st.key, "meta", msg)
	return nil
}

// arg declares ARGs in the stage scope.
func (a configApplier) arg(st *stageState, c *instructions.ArgCommand) error {
	var parts []string
	for _, kv := range c.Args {
		if a.used != nil {
			a.used(kv.Key)
		}
		var val *string
		if v, ok := a.buildArgs[kv.Key]; ok {
			val = &v
		} else if kv.Value != nil {
			v, _, err := parser.NewLex(a.escape).ProcessWord(*kv.Value, shell.EnvsFromSlice(st.env))
			if err != nil {
				return err
			}
			val = &v
		} else if a.global != nil {
			if v, ok := a.global.get(kv.Key); ok {
				val = &v
			}
		}
		part := kv.Key
		if val != nil {
			st.args.set(kv.Key, *val)
			st.env = addEnv(st.env, kv.Key, *val)
			part += "=" + *val
		}
		st.argDecls = append(st.argDecls, kv.Key)
		parts = append(parts, part)
	}
	msg := "ARG " + strings.Join(parts, " ")
	st.addHistory(msg, a.epoch, true)
	// As in docker, declaring an ARG invalidates nothing by itself: its
	// value reaches the key of every RUN that has it in scope (through the
	// environment) and of every step that expands it (through its text).
	var names []string
	for _, kv := range c.Args {
		names = append(names, kv.Key)
	}
	st.key = chainKey(st.key, "arg", names)
	return nil
}

// resolvePath makes p absolute against the stage's working directory.
func (s *stageState) resolvePath(p string) string {
	if path.IsAbs(p) {
		return path.Clean(p)
	}
	wd := s.cfg.Config.WorkingDir
	if wd == "" {
		wd = "/"
	}
	return path.Join(wd, p)
}

// workdirPath is the working directory that WORKDIR p sets, as BuildKit
// computes it: an absolute p as written (after expansion: a trailing slash,
// "." or ".." are kept); a relative one joined to the current directory and
// cleaned.
func (s *stageState) workdirPath(p string) string {
	if path.IsAbs(p) {
		return p
	}
	wd := s.cfg.Config.WorkingDir
	if wd == "" {
		wd = "/"
	}
	return path.Join("/", wd, p)
}

func (a configApplier) exposePorts(st *stageState, raw []string) ([]string, error) {
	var out []string
	env := shell.EnvsFromSlice(st.env)
	for _, r := range raw {
		words, err := parser.NewLex(a.escape).ProcessWords(r, env)
		if err != nil {
			return nil, err
		}
		for _, w := range words {
			port, proto, _ := strings.Cut(w, "/")
			if proto == "" {
				proto = "tcp"
			}
			proto = strings.ToLower(proto)
			if proto != "tcp" && proto != "udp" && proto != "sctp" {
				return nil, fmt.Errorf("invalid proto: %s", proto)
			}
			lo, hi, isRange := strings.Cut(port, "-")
			start, err := strconv.Atoi(lo)
			if err != nil || start < 0 || start > 65535 {
				return nil, fmt.Errorf("invalid containerPort: %s", port)
			}
			end := start
			if isRange {
				if end, err = strconv.Atoi(hi); err != nil || end < start || end > 65535 {
					return nil, fmt.Errorf("invalid port range: %s", port)
				}
			}
			for p := start; p <= end; p++ {
				out = append(out, fmt.Sprintf("%d/%s", p, proto))
			}
		}
	}
	sort.Strings(out)
	return out, nil
}

func validateSignal(s string) error {
	if n, err := strconv.Atoi(s); err == nil {
		if n <= 0 || n > 64 {
			return fmt.Errorf("invalid signal: %s", s)
		}
		return nil
	}
	name := strings.ToUpper(s)
	if !strings.HasPrefix(name, "SIG") {
		name = "SIG" + name
	}
	if unix.SignalNum(name) == 0 && !strings.HasPrefix(name, "SIGRTMIN") && !strings.HasPrefix(name, "SIGRTMAX") {
		return fmt.Errorf("invalid signal: %s", s)
	}
	return nil
}

func jsonArgs(a []string) string {
	q := make([]string, len(a))
	for i, s := range a {
		q[i] = strconv.Quote(s)
	}
	return "[" + strings.Join(q, " ") + "]"
}
