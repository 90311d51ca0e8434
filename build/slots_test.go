package build

import (
	"context"
	"testing"
	"time"
)

// TestJobSlots checks the --jobs bound's two rules: an inline stage build
// by a goroutine without a slot waits for one, and a goroutine waiting for
// another's stage lends its slot meanwhile (else one slot deadlocks).
func TestJobSlots(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s := make(jobSlots, 1)

	// A scheduled stage holds the only slot.
	if err := s.acquire(ctx); err != nil {
		t.Fatal(err)
	}
	held, h := withSlot(ctx)

	// The target (no slot) needs a stage nobody started: it must wait.
	type built struct {
		ctx  context.Context
		done func()
	}
	got := make(chan built, 1)
	go func() {
		c, done, err := s.forBuild(ctx)
		if err != nil {
			t.Error(err)
		}
		got <- built{c, done}
	}()
	select {
	case <-got:
		t.Fatal("inline build started while the only slot was held")
	case <-time.After(50 * time.Millisecond):
	}

	// The slot holder now waits for that stage: it lends its slot.
	resume := s.forWait(held)
	if h.held {
		t.Fatal("slot still marked held while waiting")
	}
	var in built
	select {
	case in = <-got:
	case <-ctx.Done():
		t.Fatal("inline build never got the lent slot")
	}
	// Nested: the inline build's context holds a slot, so building a
	// further stage inline from it takes none (it would block here).
	if _, d, err := s.forBuild(in.ctx); err != nil {
		t.Fatal(err)
	} else {
		d()
	}
	in.done()
	if err := resume(); err != nil || !h.held {
		t.Fatalf("resume: %v, held %v", err, h.held)
	}
	// A holder's inline build takes no second slot.
	if _, d, err := s.forBuild(held); err != nil {
		t.Fatal(err)
	} else {
		d()
	}
	if len(s) != 1 {
		t.Errorf("%d slots taken, want the holder's 1", len(s))
	}

	// A cancelled wait to resume gives an error and leaves no slot taken.
	cctx, ccancel := context.WithCancel(held)
	s2 := make(jobSlots, 1)
	if err := s2.acquire(cctx); err != nil {
		t.Fatal(err)
	}
	c2, h2 := withSlot(cctx)
	resume2 := s2.forWait(c2)
	s2 <- struct{}{} // someone else takes it
	ccancel()
	if err := resume2(); err == nil || h2.held {
		t.Errorf("resume after cancel: %v, held %v", err, h2.held)
	}
}
