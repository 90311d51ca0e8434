package build

import (
	"strings"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/moby/buildkit/frontend/dockerfile/shell"
)

// argScope is an ordered set of ARG values.
type argScope struct {
	names []string
	vals  map[string]string
}

func newArgScope() *argScope { return &argScope{vals: map[string]string{}} }

func (a *argScope) set(k, v string) {
	if _, ok := a.vals[k]; !ok {
		a.names = append(a.names, k)
	}
	a.vals[k] = v
}

func (a *argScope) get(k string) (string, bool) {
	v, ok := a.vals[k]
	return v, ok
}

func (a *argScope) clone() *argScope {
	c := newArgScope()
	for _, k := range a.names {
		c.set(k, a.vals[k])
	}
	return c
}

// pairs returns "K=V" in declaration order.
func (a *argScope) pairs() []string {
	out := make([]string, 0, len(a.names))
	for _, k := range a.names {
		out = append(out, k+"="+a.vals[k])
	}
	return out
}

// proxyArgs are predefined: usable without an ARG line and never reported
// as unused, as in docker.
var proxyArgs = []string{"HTTP_PROXY", "http_proxy", "HTTPS_PROXY", "https_proxy",
	"FTP_PROXY", "ftp_proxy", "NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy"}

// proxyEnv is what RUN gets of the proxy build args: each given one (in
// either case) in both cases, as BuildKit's ProxyEnv, upper case first.
// When both cases are given, the upper-case value wins. They never reach
// the image config or history unless an ARG declares them.
func proxyEnv(buildArgs map[string]string) []string {
	var out []string
	for i := 0; i < len(proxyArgs); i += 2 {
		upper, lower := proxyArgs[i], proxyArgs[i+1]
		v, ok := buildArgs[upper]
		if !ok {
			v, ok = buildArgs[lower]
		}
		if ok && v != "" {
			out = append(out, upper+"="+v, lower+"="+v)
		}
	}
	return out
}

func predefinedArg(k string) bool {
	for _, p := range proxyArgs {
		if p == k {
			return true
		}
	}
	switch k {
	case "SOURCE_DATE_EPOCH", "BUILDKIT_INLINE_CACHE", "BUILDKIT_SYNTAX":
		return true
	}
	return false
}

// platformArgs are the automatic platform ARGs of the global scope, as
// BuildKit defines them: TARGET* the platform of the image being built,
// BUILD* that of the machine building it.
func platformArgs(target, build v1.Platform) [][2]string {
	var out [][2]string
	for _, pp := range []struct {
		pre string
		p   v1.Platform
	}{{"TARGET", target}, {"BUILD", build}} {
		out = append(out,
			[2]string{pp.pre + "PLATFORM", platformString(pp.p)},
			[2]string{pp.pre + "OS", pp.p.OS},
			[2]string{pp.pre + "ARCH", pp.p.Architecture},
			[2]string{pp.pre + "VARIANT", pp.p.Variant})
	}
	return out
}

// initGlobalArgs evaluates the ARGs before the first FROM.
func (b *builder) initGlobalArgs() error {
	g := newArgScope()
	for _, kv := range platformArgs(b.platform, hostPlatform()) {
		g.set(kv[0], kv[1])
	}
	for _, cmd := range b.df.MetaArgs {
		for _, kv := range cmd.Args {
			b.addUsed(kv.Key)
			if v, ok := b.opt.BuildArgs[kv.Key]; ok {
				g.set(kv.Key, v)
				continue
			}
			if kv.Value == nil {
				continue
			}
			v, _, err := b.lex().ProcessWord(*kv.Value, shell.EnvsFromSlice(g.pairs()))
			if err != nil {
				return b.errAt(cmd.Location(), err)
			}
			g.set(kv.Key, v)
		}
	}
	b.global = g
	return nil
}

// envGetter returns the environment used for expansion in a stage: ARG
// values, overridden by ENV values (an ENV always wins over an ARG).
func envGetter(args *argScope, env []string) shell.EnvGetter {
	all := append(args.pairs(), env...)
	return shell.EnvsFromSlice(all)
}

// envKey returns the name part of a "K=V" string.
func envKey(kv string) string {
	k, _, _ := strings.Cut(kv, "=")
	return k
}

// setEnv sets k=v in env, replacing an existing entry for k.
func setEnv(env []string, k, v string) []string {
	out := make([]string, 0, len(env)+1)
	done := false
	for _, e := range env {
		if envKey(e) == k {
			if !done {
				out = append(out, k+"="+v)
				done = true
			}
			continue
		}
		out = append(out, e)
	}
	if !done {
		out = append(out, k+"="+v)
	}
	return out
}

// addEnv sets k=v in env as BuildKit's state env does: any earlier entry
// for k is dropped and k=v goes last.
func addEnv(env []string, k, v string) []string {
	out := make([]string, 0, len(env)+1)
	for _, e := range env {
		if envKey(e) != k {
			out = append(out, e)
		}
	}
	return append(out, k+"="+v)
}

// lookupEnv finds k in env.
func lookupEnv(env []string, k string) (string, bool) {
	for i := len(env) - 1; i >= 0; i-- {
		if ek, v, ok := strings.Cut(env[i], "="); ok && ek == k {
			return v, true
		}
	}
	return "", false
}
