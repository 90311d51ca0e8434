package sandbox

import (
	"encoding/binary"
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"unsafe"

	"golang.org/x/sys/unix"
)

// deviceRule is one rule of allowedDevices: type 'a', 'b' or 'c', major
// and minor (-1 for *) and access (a subset of "rwm").
type deviceRule struct {
	typ          byte
	major, minor int64
	access       string
}

// parseDeviceRule parses a devices.allow line such as "c 136:* rwm".
func parseDeviceRule(s string) (deviceRule, error) {
	var r deviceRule
	f := strings.Fields(s)
	if len(f) != 3 || len(f[0]) != 1 {
		return r, fmt.Errorf("device rule %q", s)
	}
	r.typ, r.access = f[0][0], f[2]
	maj, min, ok := strings.Cut(f[1], ":")
	if !ok {
		return r, fmt.Errorf("device rule %q", s)
	}
	var err error
	if r.major, err = deviceNumber(maj); err != nil {
		return r, fmt.Errorf("device rule %q: %w", s, err)
	}
	if r.minor, err = deviceNumber(min); err != nil {
		return r, fmt.Errorf("device rule %q: %w", s, err)
	}
	return r, nil
}

func deviceNumber(s string) (int64, error) {
	if s == "*" {
		return -1, nil
	}
	return strconv.ParseInt(s, 10, 32)
}

// eBPF encoding (linux/bpf.h) of the few instructions the device program uses.
const (
	ebpfLdxW    = 0x61 // dst = *(u32 *)(src + off)
	ebpfAnd32K  = 0x54 // dst &= imm (32-bit)
	ebpfRsh32K  = 0x74 // dst >>= imm (32-bit)
	ebpfMov32X  = 0xbc // dst = src (32-bit)
	ebpfMov64K  = 0xb7 // dst = imm
	ebpfJneK    = 0x55 // if dst != imm goto +off
	ebpfJneX    = 0x5d // if dst != src goto +off
	ebpfExit    = 0x95
	devcgBlock  = 1 // BPF_DEVCG_DEV_BLOCK
	devcgChar   = 2 // BPF_DEVCG_DEV_CHAR
	devcgMknod  = 1 // BPF_DEVCG_ACC_MKNOD
	devcgRead   = 2
	devcgWrite  = 4
	devcgAllAcc = devcgMknod | devcgRead | devcgWrite
)

type ebpfInsn struct {
	code     uint8
	dst, src uint8
	off      int16
	imm      int32
}

// deviceProgram is the BPF_PROG_TYPE_CGROUP_DEVICE program of rules, as
// runc generates for cgroup v2: the first rule matching the device's type,
// numbers and (a superset of) the requested access allows it; anything
// else is refused (EPERM).
func deviceProgram(rules []deviceRule) []ebpfInsn {
	// struct bpf_cgroup_dev_ctx { u32 access_type; u32 major; u32 minor; }:
	// r2 = type, r3 = access, r4 = major, r5 = minor.
	prog := []ebpfInsn{
		{code: ebpfLdxW, dst: 2, src: 1, off: 0},
		{code: ebpfAnd32K, dst: 2, imm: 0xffff},
		{code: ebpfLdxW, dst: 3, src: 1, off: 0},
		{code: ebpfRsh32K, dst: 3, imm: 16},
		{code: ebpfLdxW, dst: 4, src: 1, off: 4},
		{code: ebpfLdxW, dst: 5, src: 1, off: 8},
	}
	for _, r := range rules {
		var block []ebpfInsn
		// skip is filled in below: the jumps leave the block.
		switch r.typ {
		case 'b':
			block = append(block, ebpfInsn{code: ebpfJneK, dst: 2, imm: devcgBlock})
		case 'c':
			block = append(block, ebpfInsn{code: ebpfJneK, dst: 2, imm: devcgChar})
		}
		acc := int32(0)
		for _, c := range r.access {
			acc |= map[rune]int32{'m': devcgMknod, 'r': devcgRead, 'w': devcgWrite}[c]
		}
		if acc != devcgAllAcc {
			block = append(block,
				ebpfInsn{code: ebpfMov32X, dst: 1, src: 3},
				ebpfInsn{code: ebpfAnd32K, dst: 1, imm: acc},
				ebpfInsn{code: ebpfJneX, dst: 1, src: 3})
		}
		if r.major >= 0 {
			block = append(block, ebpfInsn{code: ebpfJneK, dst: 4, imm: int32(r.major)})
		}
		if r.minor >= 0 {
			block = append(block, ebpfInsn{code: ebpfJneK, dst: 5, imm: int32(r.minor)})
		}
		block = append(block, ebpfInsn{code: ebpfMov64K, dst: 0, imm: 1}, ebpfInsn{code: ebpfExit})
		for i := range block {
			if block[i].code == ebpfJneK || block[i].code == ebpfJneX {
				block[i].off = int16(len(block) - i - 1)
			}
		}
		prog = append(prog, block...)
	}
	return append(prog, ebpfInsn{code: ebpfMov64K, dst: 0, imm: 0}, ebpfInsn{code: ebpfExit})
}

func encodeEBPF(prog []ebpfInsn) []byte {
	b := make([]byte, 0, 8*len(prog))
	for _, in := range prog {
		b = append(b, in.code, in.dst|in.src<<4)
		b = binary.LittleEndian.AppendUint16(b, uint16(in.off))
		b = binary.LittleEndian.AppendUint32(b, uint32(in.imm))
	}
	return b
}

// progLoadAttr is the BPF_PROG_LOAD part of union bpf_attr (64-bit layout).
type progLoadAttr struct {
	progType, insnCnt  uint32
	insns, license     unsafe.Pointer
	logLevel, logSize  uint32
	logBuf             unsafe.Pointer
	kernVersion, flags uint32
}

// progAttachAttr is the BPF_PROG_ATTACH part of union bpf_attr.
type progAttachAttr struct {
	targetFD, attachBPFFD, attachType, attachFlags, replaceBPFFD uint32
}

// deviceFilter is the loaded program of allowedDevices, loaded once per
// builder and attached to every step's cgroup.
var deviceFilter = sync.OnceValues(func() (int, error) {
	var rules []deviceRule
	for _, s := range allowedDevices {
		r, err := parseDeviceRule(s)
		if err != nil {
			return -1, err
		}
		rules = append(rules, r)
	}
	return loadDeviceProgram(encodeEBPF(deviceProgram(rules)))
})

// loadDeviceProgram loads insns as a cgroup device program.
func loadDeviceProgram(insns []byte) (int, error) {
	if unsafe.Sizeof(uintptr(0)) != 8 || !littleEndian() {
		return -1, fmt.Errorf("eBPF device programs need a 64-bit little-endian host, not %s", runtime.GOARCH)
	}
	license := []byte("Apache-2.0\x00")
	attr := progLoadAttr{
		progType: unix.BPF_PROG_TYPE_CGROUP_DEVICE, insnCnt: uint32(len(insns) / 8),
		insns: unsafe.Pointer(&insns[0]), license: unsafe.Pointer(&license[0]),
	}
	fd, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
	if e != 0 {
		// Load again with the verifier's log, for the error message.
		logBuf := make([]byte, 1<<16)
		attr.logLevel, attr.logSize, attr.logBuf = 1, uint32(len(logBuf)), unsafe.Pointer(&logBuf[0])
		_, _, _ = unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_LOAD, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr))
		log := strings.TrimRight(string(logBuf), "\x00")
		if len(log) > 400 {
			log = "..." + log[len(log)-400:]
		}
		return -1, fmt.Errorf("loading the eBPF device program: %w: %s", e, log)
	}
	runtime.KeepAlive(insns)
	runtime.KeepAlive(license)
	unix.CloseOnExec(int(fd))
	return int(fd), nil
}

func littleEndian() bool {
	x := uint16(1)
	return *(*byte)(unsafe.Pointer(&x)) == 1
}

// attachDeviceFilter attaches the device program to the cgroup2 directory
// dir, as runc does on cgroup v2 (BPF_F_ALLOW_MULTI, so that programs of
// parent cgroups still apply).
func attachDeviceFilter(dir string) error {
	prog, err := deviceFilter()
	if err != nil {
		return err
	}
	cg, err := unix.Open(dir, unix.O_DIRECTORY|unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("opening cgroup %s: %w", dir, err)
	}
	defer unix.Close(cg)
	attr := progAttachAttr{targetFD: uint32(cg), attachBPFFD: uint32(prog),
		attachType: unix.BPF_CGROUP_DEVICE, attachFlags: unix.BPF_F_ALLOW_MULTI}
	if _, _, e := unix.Syscall(unix.SYS_BPF, unix.BPF_PROG_ATTACH, uintptr(unsafe.Pointer(&attr)), unsafe.Sizeof(attr)); e != 0 {
		return fmt.Errorf("attaching the eBPF device program to %s: %w", dir, e)
	}
	return nil
}
