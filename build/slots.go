package build

import "context"

// jobSlots bounds how many stages build at once (--jobs), as a jobserver:
// a goroutine holds at most one slot, marked in its context, and gives it
// back while it waits for a stage someone else builds, so waiting never
// holds a slot another stage needs.
type jobSlots chan struct{}

type slotKey struct{}

// slotHold records whether the goroutine owning a context holds its slot.
type slotHold struct{ held bool }

func (s jobSlots) acquire(ctx context.Context) error {
	select {
	case s <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s jobSlots) release() { <-s }

// withSlot marks ctx as belonging to a goroutine that holds a slot.
func withSlot(ctx context.Context) (context.Context, *slotHold) {
	h := &slotHold{held: true}
	return context.WithValue(ctx, slotKey{}, h), h
}

func slotOf(ctx context.Context) *slotHold {
	h, _ := ctx.Value(slotKey{}).(*slotHold)
	return h
}

// forBuild takes a slot for building a stage inline (an instruction that
// needs a stage nobody has started) when the caller holds none. done gives
// it back.
func (s jobSlots) forBuild(ctx context.Context) (context.Context, func(), error) {
	if s == nil || slotOf(ctx) != nil {
		return ctx, func() {}, nil
	}
	if err := s.acquire(ctx); err != nil {
		return ctx, nil, err
	}
	ctx, h := withSlot(ctx)
	return ctx, func() {
		if h.held {
			h.held = false
			s.release()
		}
	}, nil
}

// forWait gives the caller's slot back while it waits for a stage another
// goroutine builds; resume takes it again.
func (s jobSlots) forWait(ctx context.Context) (resume func() error) {
	h := slotOf(ctx)
	if s == nil || h == nil || !h.held {
		return func() error { return nil }
	}
	h.held = false
	s.release()
	return func() error {
		if err := s.acquire(ctx); err != nil {
			return err
		}
		h.held = true
		return nil
	}
}
