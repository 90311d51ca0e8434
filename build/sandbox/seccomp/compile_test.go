//go:build linux

package seccomp

import (
	"encoding/binary"
	"strings"
	"testing"

	"github.com/elastic/go-seccomp-bpf/arch"
	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// call is one system call presented to a filter.
type call struct {
	arch arch.AuditArch
	nr   uint32
	args [6]uint64
}

// vms holds the VM of each program run has seen.
var vms = map[*bpf.RawInstruction]*bpf.VM{}

// run evaluates prog on c in x/net/bpf's VM. The VM loads words
// big-endian, so the seccomp_data is written big-endian here, each 64-bit
// argument as its low word then its high word, as the kernel lays it out
// on little-endian machines.
func run(t *testing.T, prog []bpf.RawInstruction, c call) uint32 {
	t.Helper()
	vm := vms[&prog[0]]
	if vm == nil {
		ins, ok := bpf.Disassemble(prog)
		if !ok {
			t.Fatal("program does not disassemble")
		}
		var err error
		if vm, err = bpf.NewVM(ins); err != nil {
			t.Fatal(err)
		}
		vms[&prog[0]] = vm
	}
	data := make([]byte, 64)
	binary.BigEndian.PutUint32(data[offNr:], c.nr)
	binary.BigEndian.PutUint32(data[offArch:], uint32(c.arch))
	for i, a := range c.args {
		binary.BigEndian.PutUint32(data[offArgs+8*i:], uint32(a))
		binary.BigEndian.PutUint32(data[offArgs+8*i+4:], uint32(a>>32))
	}
	got, err := vm.Run(data)
	if err != nil {
		t.Fatal(err)
	}
	return uint32(got)
}

var (
	x86_64 = arch.X86_64.ID
	i386   = arch.I386.ID
	eperm  = uint32(retErrno | errnoEPERM)
	enosys = uint32(retErrno | errnoENOSYS)
)

func nr(t *testing.T, a *arch.Info, name string) uint32 {
	t.Helper()
	n, ok := a.SyscallNames[name]
	if !ok {
		t.Fatalf("no %s on %s", name, a.Name)
	}
	return uint32(n | a.SeccompMask)
}

// TestDefaultProfile runs docker's default profile (for docker's default
// capabilities) on the calls the RUN attack tests make and on everyday ones.
func TestDefaultProfile(t *testing.T) {
	caps := []string{"CAP_CHOWN", "CAP_DAC_OVERRIDE", "CAP_FSETID", "CAP_FOWNER", "CAP_MKNOD",
		"CAP_NET_RAW", "CAP_SETGID", "CAP_SETUID", "CAP_SETFCAP", "CAP_SETPCAP",
		"CAP_NET_BIND_SERVICE", "CAP_SYS_CHROOT", "CAP_KILL", "CAP_AUDIT_WRITE"}
	p, err := Profile("", caps)
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("%d instructions", len(prog))
	const (
		cloneNewUser                      = 0x10000000
		sigchld                           = 17
		afINET, afVSOCK, afALG, afNETLINK = 2, 40, 38, 16
	)
	tests := []struct {
		name string
		c    call
		want uint32
	}{
		{"read", call{arch: x86_64, nr: nr(t, arch.X86_64, "read")}, retAllow},
		{"execve", call{arch: x86_64, nr: nr(t, arch.X86_64, "execve")}, retAllow},
		{"mknod", call{arch: x86_64, nr: nr(t, arch.X86_64, "mknodat")}, retAllow},
		{"keyctl", call{arch: x86_64, nr: nr(t, arch.X86_64, "keyctl")}, eperm},
		{"add_key", call{arch: x86_64, nr: nr(t, arch.X86_64, "add_key")}, eperm},
		{"unshare", call{arch: x86_64, nr: nr(t, arch.X86_64, "unshare")}, eperm},
		{"mount", call{arch: x86_64, nr: nr(t, arch.X86_64, "mount")}, eperm},
		{"fsopen", call{arch: x86_64, nr: nr(t, arch.X86_64, "fsopen")}, eperm},
		{"setns", call{arch: x86_64, nr: nr(t, arch.X86_64, "setns")}, eperm},
		{"clone fork", call{arch: x86_64, nr: nr(t, arch.X86_64, "clone"), args: [6]uint64{sigchld}}, retAllow},
		{"clone newuser", call{arch: x86_64, nr: nr(t, arch.X86_64, "clone"), args: [6]uint64{cloneNewUser | sigchld}}, eperm},
		{"clone3", call{arch: x86_64, nr: nr(t, arch.X86_64, "clone3")}, enosys},
		{"personality 0", call{arch: x86_64, nr: nr(t, arch.X86_64, "personality")}, retAllow},
		{"personality query", call{arch: x86_64, nr: nr(t, arch.X86_64, "personality"), args: [6]uint64{0xffffffff}}, retAllow},
		{"personality high word", call{arch: x86_64, nr: nr(t, arch.X86_64, "personality"), args: [6]uint64{1 << 32}}, eperm},
		{"personality other", call{arch: x86_64, nr: nr(t, arch.X86_64, "personality"), args: [6]uint64{0x0040000}}, eperm},
		{"socket inet", call{arch: x86_64, nr: nr(t, arch.X86_64, "socket"), args: [6]uint64{afINET}}, retAllow},
		{"socket netlink", call{arch: x86_64, nr: nr(t, arch.X86_64, "socket"), args: [6]uint64{afNETLINK}}, retAllow},
		{"socket vsock", call{arch: x86_64, nr: nr(t, arch.X86_64, "socket"), args: [6]uint64{afVSOCK}}, eperm},
		{"socket alg", call{arch: x86_64, nr: nr(t, arch.X86_64, "socket"), args: [6]uint64{afALG}}, eperm},
		{"beyond the table", call{arch: x86_64, nr: 1000}, enosys},
		{"i386 read", call{arch: i386, nr: nr(t, arch.I386, "read")}, retAllow},
		{"i386 keyctl", call{arch: i386, nr: nr(t, arch.I386, "keyctl")}, eperm},
		{"i386 clone newuser", call{arch: i386, nr: nr(t, arch.I386, "clone"), args: [6]uint64{cloneNewUser}}, eperm},
		{"x32 read", call{arch: x86_64, nr: nr(t, arch.X32, "read")}, retAllow},
		{"x32 keyctl", call{arch: x86_64, nr: nr(t, arch.X32, "keyctl")}, eperm},
		{"other architecture", call{arch: arch.AARCH64.ID, nr: 63}, retKillThread},
	}
	for _, tc := range tests {
		if got := run(t, prog, tc.c); got != tc.want {
			t.Errorf("%s: filter returns %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

// TestCompileRules covers the operators and rule combinations docker's
// profile does not use.
func TestCompileRules(t *testing.T) {
	enoent := uint(2)
	arg := func(i uint, op specs.LinuxSeccompOperator, v, v2 uint64) specs.LinuxSeccompArg {
		return specs.LinuxSeccompArg{Index: i, Op: op, Value: v, ValueTwo: v2}
	}
	p := &specs.LinuxSeccomp{
		DefaultAction: specs.ActAllow,
		Architectures: []specs.Arch{specs.ArchX86_64},
		Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActErrno, ErrnoRet: &enoent, Args: []specs.LinuxSeccompArg{arg(0, specs.OpMaskedEqual, 0xff00, 0x1200)}},
			{Names: []string{"write"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{arg(1, specs.OpLessThan, 1<<33, 0), arg(2, specs.OpNotEqual, 7, 0)}},
			{Names: []string{"openat"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{arg(0, specs.OpGreaterEqual, 10, 0), arg(0, specs.OpEqualTo, 3, 0)}},
			{Names: []string{"close"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{arg(0, specs.OpLessEqual, 2, 0)}},
			{Names: []string{"close"}, Action: specs.ActKillProcess},
			{Names: []string{"no_such_call"}, Action: specs.ActErrno},
		},
	}
	prog, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	read, write := nr(t, arch.X86_64, "read"), nr(t, arch.X86_64, "write")
	openat, closeNr := nr(t, arch.X86_64, "openat"), nr(t, arch.X86_64, "close")
	tests := []struct {
		name string
		c    call
		want uint32
	}{
		{"masked equal", call{arch: x86_64, nr: read, args: [6]uint64{0x12ab}}, retErrno | 2},
		{"masked differs", call{arch: x86_64, nr: read, args: [6]uint64{0x13ab}}, retAllow},
		{"64-bit less and not equal", call{arch: x86_64, nr: write, args: [6]uint64{0, 1<<33 - 1, 8}}, eperm},
		{"64-bit not less", call{arch: x86_64, nr: write, args: [6]uint64{0, 1 << 33, 8}}, retAllow},
		{"equal excluded", call{arch: x86_64, nr: write, args: [6]uint64{0, 5, 7}}, retAllow},
		{"repeated index ORs: first", call{arch: x86_64, nr: openat, args: [6]uint64{11}}, eperm},
		{"repeated index ORs: second", call{arch: x86_64, nr: openat, args: [6]uint64{3}}, eperm},
		{"repeated index ORs: neither", call{arch: x86_64, nr: openat, args: [6]uint64{5}}, retAllow},
		{"unconditional rule wins", call{arch: x86_64, nr: closeNr, args: [6]uint64{9}}, retKillProcess},
		{"default allow has no ENOSYS", call{arch: x86_64, nr: 1000}, retAllow},
		{"i386 not listed", call{arch: i386, nr: 3}, retKillThread},
		{"x32 not listed", call{arch: x86_64, nr: x32Bit}, retKillThread},
	}
	for _, tc := range tests {
		if got := run(t, prog, tc.c); got != tc.want {
			t.Errorf("%s: filter returns %#x, want %#x", tc.name, got, tc.want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	tests := []struct {
		name string
		p    specs.LinuxSeccomp
		want string
	}{
		{"notify", specs.LinuxSeccomp{DefaultAction: specs.ActNotify}, "unsupported seccomp action"},
		{"operator", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 0, Op: "SCMP_CMP_XOR"}}}}}, "unsupported seccomp operator"},
		{"index", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Syscalls: []specs.LinuxSyscall{
			{Names: []string{"read"}, Action: specs.ActErrno, Args: []specs.LinuxSeccompArg{{Index: 6, Op: specs.OpEqualTo}}}}}, "out of range"},
		{"architecture", specs.LinuxSeccomp{DefaultAction: specs.ActAllow, Architectures: []specs.Arch{specs.ArchS390X}}, "no architecture"},
	}
	for _, tc := range tests {
		_, err := Compile(&tc.p)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want %q", tc.name, err, tc.want)
		}
	}
}

func TestProfileInvalidJSON(t *testing.T) {
	if _, err := Profile("{not json", nil); err == nil || !strings.Contains(err.Error(), "seccomp profile") {
		t.Fatalf("err = %v", err)
	}
	if p, err := Profile(Unconfined, nil); p != nil || err != nil {
		t.Fatalf("unconfined = %v, %v", p, err)
	}
}

// reference decides a call as the package documentation says, directly
// from the profile, for TestCompileAllCalls.
func reference(t *testing.T, p *specs.LinuxSeccomp, a *arch.Info, bits64 bool, c call) uint32 {
	def, _ := retValue(p.DefaultAction, p.DefaultErrnoRet)
	var maxNr uint32
	var matched []uint32 // rets of the matching rules, unconditional ones first
	unconditional := false
	for _, sc := range p.Syscalls {
		ret, _ := retValue(sc.Action, sc.ErrnoRet)
		for _, name := range sc.Names {
			n, ok := a.SyscallNames[name]
			if !ok {
				continue
			}
			nr := uint32(n | a.SeccompMask)
			maxNr = max(maxNr, nr)
			if nr != c.nr || ret == def {
				continue
			}
			for _, r := range splitRule(ret, sc.Args) {
				if len(r.conds) == 0 && !unconditional {
					unconditional, matched = true, []uint32{ret}
				}
				if !unconditional && holds(r.conds, c.args, bits64) {
					matched = append(matched, ret)
				}
			}
		}
	}
	if def != retAllow && c.nr > maxNr {
		return retErrno | errnoENOSYS
	}
	if len(matched) > 0 {
		return matched[0]
	}
	return def
}

func holds(conds []specs.LinuxSeccompArg, args [6]uint64, bits64 bool) bool {
	for _, c := range conds {
		v, x, y := args[c.Index], c.Value, c.ValueTwo
		if !bits64 {
			v, x, y = uint64(uint32(v)), uint64(uint32(x)), uint64(uint32(y))
		}
		ok := map[specs.LinuxSeccompOperator]bool{
			specs.OpEqualTo: v == x, specs.OpNotEqual: v != x, specs.OpLessThan: v < x,
			specs.OpLessEqual: v <= x, specs.OpGreaterThan: v > x, specs.OpGreaterEqual: v >= x,
			specs.OpMaskedEqual: v&x == y,
		}[c.Op]
		if !ok {
			return false
		}
	}
	return true
}

// TestCompileAllCalls compares the compiled default profile with the
// reference decision for every system call number of every architecture
// (and numbers past the tables), with arguments that hit and miss the
// profile's conditions.
func TestCompileAllCalls(t *testing.T) {
	p, err := Profile("", []string{"CAP_CHOWN", "CAP_SYS_CHROOT", "CAP_SETUID"})
	if err != nil {
		t.Fatal(err)
	}
	prog, err := Compile(p)
	if err != nil {
		t.Fatal(err)
	}
	noX32, err := Compile(p, WithoutX32())
	if err != nil {
		t.Fatal(err)
	}
	if len(noX32) >= len(prog) {
		t.Errorf("WithoutX32: %d instructions, not fewer than %d", len(noX32), len(prog))
	}
	argSets := [][6]uint64{{}, {2}, {8}, {0x10000000 | 17}, {40}, {0xffffffff}, {1 << 32}, {17, 1},
		{16}, {38}, {44}, {45}, {46}, {1<<32 | 16}}
	checked := 0
	for _, tc := range []struct {
		info   *arch.Info
		bits64 bool
	}{{arch.X86_64, true}, {arch.I386, false}, {arch.X32, false}} {
		for n := 0; n < 600; n++ {
			c := call{arch: tc.info.ID, nr: uint32(n | tc.info.SeccompMask)}
			for _, args := range argSets {
				c.args = args
				want := reference(t, p, tc.info, tc.bits64, c)
				if got := run(t, prog, c); got != want {
					t.Fatalf("%s call %d (%s) args %x: filter returns %#x, want %#x",
						tc.info.Name, n, tc.info.SyscallNumbers[n], args, got, want)
				}
				if tc.info == arch.X32 {
					want = retErrno | errnoENOSYS
				}
				if got := run(t, noX32, c); got != want {
					t.Fatalf("WithoutX32: %s call %d (%s) args %x: filter returns %#x, want %#x",
						tc.info.Name, n, tc.info.SyscallNumbers[n], args, got, want)
				}
				checked++
			}
		}
	}
	t.Logf("%d calls checked", checked)
}
