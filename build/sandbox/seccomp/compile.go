package seccomp

import (
	"cmp"
	"errors"
	"fmt"
	"runtime"
	"slices"

	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// Return values of a seccomp filter (linux/seccomp.h).
const (
	retKillProcess = 0x80000000
	retKillThread  = 0x00000000
	retTrap        = 0x00030000
	retErrno       = 0x00050000
	retTrace       = 0x7ff00000
	retLog         = 0x7ffc0000
	retAllow       = 0x7fff0000
)

// Offsets in struct seccomp_data; argument words are little-endian (every
// architecture in archTables is).
const (
	offNr   = 0
	offArch = 4
	offArgs = 16
)

const (
	errnoEPERM  = 1
	errnoENOSYS = 38
	// maxInsns is BPF_MAXINSNS, the kernel's limit on a filter's length.
	maxInsns = 4096
	// x32Bit marks the system call numbers of the x32 ABI.
	x32Bit = 0x40000000
)

// archTable is one architecture's system call table.
type archTable struct {
	info *arch.Info
	// bits64 compares arguments as 64-bit values (else the low 32 bits).
	bits64 bool
}

// archTables are the architectures Compile knows, as libseccomp names them.
var archTables = map[specs.Arch]archTable{
	specs.ArchX86_64:  {arch.X86_64, true},
	specs.ArchX86:     {arch.I386, false},
	specs.ArchX32:     {arch.X32, false},
	specs.ArchAARCH64: {arch.AARCH64, true},
	specs.ArchARM:     {arch.ARM, false},
}

// nativeArch is the profile architecture of the running program.
var nativeArch = map[string]specs.Arch{
	"amd64": specs.ArchX86_64, "386": specs.ArchX86, "arm64": specs.ArchAARCH64, "arm": specs.ArchARM,
}

// Option changes how Compile lays out a filter, never what it decides for
// a call the kernel can run.
type Option func(*options)

type options struct{ noX32 bool }

// WithoutX32 says that the running kernel has no x32 ABI (Debian's
// default): x32 calls then get ENOSYS from the filter, as the kernel would
// give them, instead of a third copy of the rules. The filter is a third
// smaller, and the kernel compiles every filter when it is installed.
func WithoutX32() Option { return func(o *options) { o.noX32 = true } }

// Compile assembles profile into a seccomp BPF program; a nil profile gives
// a nil program (no filter). See the package documentation for the rules.
func Compile(profile *specs.LinuxSeccomp, opts ...Option) ([]bpf.RawInstruction, error) {
	if profile == nil {
		return nil, nil
	}
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	def, err := retValue(profile.DefaultAction, profile.DefaultErrnoRet)
	if err != nil {
		return nil, fmt.Errorf("default action: %w", err)
	}
	groups, err := archGroups(profile.Architectures)
	if err != nil {
		return nil, err
	}
	a := &asm{}
	a.load(offArch)
	sections := make([]int, len(groups))
	for i, g := range groups {
		sections[i] = a.label()
		a.jumpIf(bpf.JumpEqual, uint32(g.id), next, 1)
		a.jump(sections[i])
	}
	a.ret(retKillThread) // an architecture the profile does not list
	for i, g := range groups {
		a.set(sections[i])
		a.load(offNr)
		if g.id == arch.X86_64.ID {
			// x32 calls share x86_64's audit architecture.
			x32 := a.label()
			a.jumpIf(bpf.JumpGreaterOrEqual, x32Bit, next, 1)
			a.jump(x32)
			if err := a.body(g.plain, 0, profile, def); err != nil {
				return nil, err
			}
			a.set(x32)
			if o.noX32 && g.masked != nil {
				a.ret(retErrno | errnoENOSYS)
				continue
			}
			if err := a.body(g.masked, x32Bit, profile, def); err != nil {
				return nil, err
			}
			continue
		}
		if err := a.body(g.plain, 0, profile, def); err != nil {
			return nil, err
		}
	}
	prog, err := a.assemble()
	if err != nil {
		return nil, err
	}
	if len(prog) > maxInsns {
		return nil, fmt.Errorf("profile needs %d BPF instructions, more than the kernel's %d", len(prog), maxInsns)
	}
	return prog, nil
}

// archGroup is the part of a filter for one audit architecture: its plain
// system calls and, for x86_64, the x32 ones (numbers with x32Bit set).
type archGroup struct {
	id     arch.AuditArch
	plain  *archTable
	masked *archTable
}

// archGroups groups the profile's architectures by audit architecture; an
// empty list means the native one, as in libseccomp. Architectures without
// a table are left out (this CPU cannot make their calls) unless native.
func archGroups(arches []specs.Arch) ([]archGroup, error) {
	native, ok := nativeArch[runtime.GOARCH]
	if !ok {
		return nil, fmt.Errorf("seccomp filters are not supported on %s", runtime.GOARCH)
	}
	if len(arches) == 0 {
		arches = []specs.Arch{native}
	}
	var groups []archGroup
	for _, name := range arches {
		t, ok := archTables[name]
		if !ok {
			if name == native {
				return nil, fmt.Errorf("no system call table for %s", name)
			}
			continue
		}
		tp := &t
		i := slices.IndexFunc(groups, func(g archGroup) bool { return g.id == t.info.ID })
		if i < 0 {
			groups = append(groups, archGroup{id: t.info.ID})
			i = len(groups) - 1
		}
		if t.info.SeccompMask != 0 {
			groups[i].masked = tp
		} else {
			groups[i].plain = tp
		}
	}
	if len(groups) == 0 {
		return nil, errors.New("the profile lists no architecture this machine can run")
	}
	return groups, nil
}

// rule is one syscall rule for one system call number.
type rule struct {
	ret   uint32
	conds []specs.LinuxSeccompArg
}

// body emits the checks of one architecture; A holds the system call
// number. A nil table kills the thread (an architecture not in the profile).
func (a *asm) body(t *archTable, mask uint32, profile *specs.LinuxSeccomp, def uint32) error {
	if t == nil {
		a.ret(retKillThread)
		return nil
	}
	rules := map[uint32][]rule{}
	var maxNr uint32
	for _, sc := range profile.Syscalls {
		ret, err := retValue(sc.Action, sc.ErrnoRet)
		if err != nil {
			return fmt.Errorf("syscalls %v: %w", sc.Names, err)
		}
		for _, c := range sc.Args {
			if c.Index > 5 {
				return fmt.Errorf("syscalls %v: argument index %d out of range", sc.Names, c.Index)
			}
		}
		for _, name := range sc.Names {
			n, ok := t.info.SyscallNames[name]
			if !ok {
				continue // unknown to the table, as runc ignores names unknown to libseccomp
			}
			nr := uint32(n) | mask
			maxNr = max(maxNr, nr)
			if ret == def {
				continue // runc drops rules that repeat the default action
			}
			rules[nr] = append(rules[nr], splitRule(ret, sc.Args)...)
		}
	}
	if def != retAllow && maxNr > 0 {
		a.jumpIf(bpf.JumpGreaterThan, maxNr, next, 1)
		a.ret(retErrno | errnoENOSYS)
	}
	var entries []entry
	for nr, rs := range rules {
		e := entry{nr: nr, rules: rs}
		if i := slices.IndexFunc(rs, func(r rule) bool { return len(r.conds) == 0 }); i >= 0 {
			e.ret, e.rules = rs[i].ret, nil
		}
		entries = append(entries, e)
	}
	slices.SortFunc(entries, func(x, y entry) int { return cmp.Compare(x.nr, y.nr) })
	blocks := map[uint32]int{}
	for _, e := range entries {
		if e.rules != nil {
			blocks[e.nr] = a.label()
		}
	}
	a.tree(entries, def, blocks)
	for _, e := range entries {
		if e.rules == nil {
			continue
		}
		a.set(blocks[e.nr])
		if err := a.conditional(e.rules, t.bits64, def); err != nil {
			return err
		}
	}
	return nil
}

// entry is what one system call number does: ret, or, when rules is not
// nil, the first of its conditional rules that matches.
type entry struct {
	nr    uint32
	ret   uint32
	rules []rule
}

// leafSize is the most entries tree tests one after the other.
const leafSize = 16

// tree emits a binary search over entries (sorted by number) on the system
// call number in A, so that a call is decided in about 2·log2(n)+leafSize
// steps; the kernel runs the filter for every system call number when it
// is installed (to cache the calls it always allows), so this is also what
// installing it costs. A number not in entries gets def.
func (a *asm) tree(entries []entry, def uint32, blocks map[uint32]int) {
	if len(entries) > leafSize {
		mid := len(entries) / 2
		right := a.label()
		a.jumpIf(bpf.JumpGreaterOrEqual, entries[mid].nr, next, 1)
		a.jump(right)
		a.tree(entries[:mid], def, blocks)
		a.set(right)
		a.tree(entries[mid:], def, blocks)
		return
	}
	// Equality tests, then "ret def", then one return per action and one
	// jump per conditional block, all within reach of a short jump.
	var rets []uint32
	var conds []uint32
	for _, e := range entries {
		if e.rules != nil {
			conds = append(conds, e.nr)
		} else if !slices.Contains(rets, e.ret) {
			rets = append(rets, e.ret)
		}
	}
	k := len(entries)
	for i, e := range entries {
		t := 1 + slices.Index(rets, e.ret)
		if e.rules != nil {
			t = 1 + len(rets) + slices.Index(conds, e.nr)
		}
		a.jumpIf(bpf.JumpEqual, e.nr, k+t-i-1, next)
	}
	a.ret(def)
	for _, r := range rets {
		a.ret(r)
	}
	for _, nr := range conds {
		a.jump(blocks[nr])
	}
}

// splitRule returns the rules of one profile entry: one with all its
// conditions, or, when it compares an argument twice, one per condition.
func splitRule(ret uint32, args []specs.LinuxSeccompArg) []rule {
	seen := map[uint]bool{}
	repeated := false
	for _, c := range args {
		repeated = repeated || seen[c.Index]
		seen[c.Index] = true
	}
	if !repeated {
		return []rule{{ret, args}}
	}
	rs := make([]rule, len(args))
	for i, c := range args {
		rs[i] = rule{ret, []specs.LinuxSeccompArg{c}}
	}
	return rs
}

// conditional emits the rules of one system call, tried in order; when
// none matches the call gets the default action.
func (a *asm) conditional(rules []rule, bits64 bool, def uint32) error {
	for i := 0; i < len(rules); i++ {
		if n := equalityRun(rules[i:]); n >= 3 {
			a.equalities(rules[i:i+n], bits64)
			i += n - 1
			continue
		}
		r := rules[i]
		fail := a.label()
		for _, c := range r.conds {
			if err := a.cond(c, bits64, fail); err != nil {
				return err
			}
		}
		a.ret(r.ret)
		a.set(fail)
	}
	a.ret(def)
	return nil
}

// equalityRun counts the rules, from the first, that each compare the same
// argument for equality with a value of the same high word and share one
// action (docker's allowed socket families): at most 200, so that every
// jump of equalities stays short.
func equalityRun(rules []rule) int {
	first := rules[0]
	if len(first.conds) != 1 || first.conds[0].Op != specs.OpEqualTo {
		return 0
	}
	c0 := first.conds[0]
	n := 0
	for _, r := range rules {
		if n == 200 || r.ret != first.ret || len(r.conds) != 1 {
			break
		}
		c := r.conds[0]
		if c.Op != specs.OpEqualTo || c.Index != c0.Index || c.Value>>32 != c0.Value>>32 {
			break
		}
		n++
	}
	return n
}

// equalities emits a run of rules found by equalityRun: the argument is
// loaded once and compared with every value, instead of once per rule.
func (a *asm) equalities(rules []rule, bits64 bool) {
	c0 := rules[0].conds[0]
	lo := uint32(offArgs + 8*c0.Index)
	done, match := a.label(), a.label()
	if bits64 {
		a.load(lo + 4)
		a.jumpIf(bpf.JumpEqual, uint32(c0.Value>>32), next, lbl(done))
	}
	a.load(lo)
	for _, r := range rules {
		a.jumpIf(bpf.JumpEqual, uint32(r.conds[0].Value), lbl(match), next)
	}
	a.jump(done)
	a.set(match)
	a.ret(rules[0].ret)
	a.set(done)
}

// retValue is the filter's return value for a profile action.
func retValue(act specs.LinuxSeccompAction, errno *uint) (uint32, error) {
	code := uint32(errnoEPERM)
	if errno != nil {
		if *errno > 0xffff {
			return 0, fmt.Errorf("errno %d out of range", *errno)
		}
		code = uint32(*errno)
	}
	switch act {
	case specs.ActKill, specs.ActKillThread:
		return retKillThread, nil
	case specs.ActKillProcess:
		return retKillProcess, nil
	case specs.ActTrap:
		return retTrap, nil
	case specs.ActErrno:
		return retErrno | code, nil
	case specs.ActTrace:
		return retTrace | code, nil
	case specs.ActLog:
		return retLog, nil
	case specs.ActAllow:
		return retAllow, nil
	}
	return 0, fmt.Errorf("unsupported seccomp action %q", act)
}
