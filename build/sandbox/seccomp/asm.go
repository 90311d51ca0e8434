package seccomp

import (
	"fmt"

	specs "github.com/opencontainers/runtime-spec/specs-go"
	"golang.org/x/net/bpf"
)

// next as a jump target continues with the following instruction.
const next = 0

// asm collects BPF instructions whose jumps may name labels, resolved by
// assemble. Conditional jumps reach at most 255 instructions ahead; the
// code is laid out so that only unconditional jumps go further.
type asm struct {
	ins    []insn
	labels []int // label → instruction index, -1 until set
}

// insn is an instruction, or a jump to labels or relative offsets.
type insn struct {
	op bpf.Instruction
	// For a conditional jump: the test and its targets, each a relative
	// offset (>= 0) or a label (< 0, as -1-label).
	cond        bpf.JumpTest
	val         uint32
	jt, jf      int
	isCond      bool
	jumpToLabel int // unconditional jump to label+1; 0 when not one
}

func (a *asm) raw(op bpf.Instruction) { a.ins = append(a.ins, insn{op: op}) }
func (a *asm) load(off uint32)        { a.raw(bpf.LoadAbsolute{Off: off, Size: 4}) }
func (a *asm) ret(v uint32)           { a.raw(bpf.RetConstant{Val: v}) }

// label makes a new label, to be placed with set.
func (a *asm) label() int {
	a.labels = append(a.labels, -1)
	return len(a.labels) - 1
}

// set places label l at the next instruction.
func (a *asm) set(l int) { a.labels[l] = len(a.ins) }

// lbl turns a label into a jump target for jumpIf.
func lbl(l int) int { return -1 - l }

// jumpIf adds a conditional jump; jt and jf are relative offsets (next is
// 0) or labels made with lbl.
func (a *asm) jumpIf(cond bpf.JumpTest, val uint32, jt, jf int) {
	a.ins = append(a.ins, insn{isCond: true, cond: cond, val: val, jt: jt, jf: jf})
}

// jump adds an unconditional jump to label l.
func (a *asm) jump(l int) { a.ins = append(a.ins, insn{jumpToLabel: l + 1}) }

// assemble resolves the labels and encodes the program.
func (a *asm) assemble() ([]bpf.RawInstruction, error) {
	ops := make([]bpf.Instruction, len(a.ins))
	for i, in := range a.ins {
		switch {
		case in.isCond:
			jt, err := a.offset(i, in.jt)
			if err != nil {
				return nil, err
			}
			jf, err := a.offset(i, in.jf)
			if err != nil {
				return nil, err
			}
			ops[i] = bpf.JumpIf{Cond: in.cond, Val: in.val, SkipTrue: uint8(jt), SkipFalse: uint8(jf)}
		case in.jumpToLabel > 0:
			off, err := a.offset(i, lbl(in.jumpToLabel-1))
			if err != nil {
				return nil, err
			}
			ops[i] = bpf.Jump{Skip: uint32(off)}
		default:
			ops[i] = in.op
		}
	}
	return bpf.Assemble(ops)
}

// offset resolves target, seen from instruction i, to a forward offset.
func (a *asm) offset(i, target int) (int, error) {
	if target >= 0 {
		return target, nil
	}
	pos := a.labels[-1-target]
	if pos < 0 {
		return 0, fmt.Errorf("seccomp: internal error: label %d not placed", -1-target)
	}
	off := pos - i - 1
	if off < 0 {
		return 0, fmt.Errorf("seccomp: internal error: backward jump")
	}
	if a.ins[i].isCond && off > 255 {
		return 0, fmt.Errorf("seccomp: a rule needs a jump of %d instructions, more than classic BPF allows", off)
	}
	return off, nil
}

// cond emits one argument comparison of a rule: it falls through when
// the comparison holds and jumps to the label fail when it does not.
// 64-bit values are compared as a high and a low word.
func (a *asm) cond(c specs.LinuxSeccompArg, bits64 bool, fail int) error {
	lo := uint32(offArgs + 8*c.Index)
	hi := lo + 4
	vlo, vhi := uint32(c.Value), uint32(c.Value>>32)
	F := lbl(fail)
	pass := a.label()
	P := lbl(pass)
	switch c.Op {
	case specs.OpEqualTo:
		if bits64 {
			a.load(hi)
			a.jumpIf(bpf.JumpEqual, vhi, next, F)
		}
		a.load(lo)
		a.jumpIf(bpf.JumpEqual, vlo, next, F)
	case specs.OpNotEqual:
		if bits64 {
			a.load(hi)
			a.jumpIf(bpf.JumpEqual, vhi, next, P)
		}
		a.load(lo)
		a.jumpIf(bpf.JumpEqual, vlo, F, next)
	case specs.OpGreaterThan, specs.OpGreaterEqual:
		if bits64 {
			a.load(hi)
			a.jumpIf(bpf.JumpGreaterThan, vhi, P, next)
			a.jumpIf(bpf.JumpEqual, vhi, next, F)
		}
		a.load(lo)
		test := bpf.JumpGreaterThan
		if c.Op == specs.OpGreaterEqual {
			test = bpf.JumpGreaterOrEqual
		}
		a.jumpIf(test, vlo, next, F)
	case specs.OpLessThan, specs.OpLessEqual:
		if bits64 {
			a.load(hi)
			a.jumpIf(bpf.JumpGreaterThan, vhi, F, next)
			a.jumpIf(bpf.JumpEqual, vhi, next, P)
		}
		a.load(lo)
		test := bpf.JumpGreaterOrEqual // fails unless lo < value
		if c.Op == specs.OpLessEqual {
			test = bpf.JumpGreaterThan
		}
		a.jumpIf(test, vlo, F, next)
	case specs.OpMaskedEqual:
		// (arg & Value) == ValueTwo
		if bits64 {
			a.load(hi)
			a.raw(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vhi})
			a.jumpIf(bpf.JumpEqual, uint32(c.ValueTwo>>32), next, F)
		}
		a.load(lo)
		a.raw(bpf.ALUOpConstant{Op: bpf.ALUOpAnd, Val: vlo})
		a.jumpIf(bpf.JumpEqual, uint32(c.ValueTwo), next, F)
	default:
		return fmt.Errorf("unsupported seccomp operator %q", c.Op)
	}
	a.set(pass)
	return nil
}
