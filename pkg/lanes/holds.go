package lanes

import (
	"context"
	"slices"
	"sync"
)

// holds are the releases a running task takes besides those of its ticket
// (see Pass.Hold). They are held like those, in the release's lane and
// with its lease, until the task leaves.
type holds struct {
	lanes   *Lanes
	ticket  Ticket
	waitCtx context.Context // ends when the lanes stop taking work

	mu     sync.Mutex
	keys   []string // held, in KeyOrder
	leaves []func()
	leases []heldLeases
}

func (h *holds) hold(ctx context.Context, keys []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys = slices.DeleteFunc(SortedKeys(keys), func(k string) bool {
		_, held := slices.BinarySearchFunc(h.keys, k, KeyOrder)
		return held
	})
	if len(keys) == 0 {
		return nil
	}
	if len(h.keys) > 0 && KeyOrder(keys[0], h.keys[len(h.keys)-1]) < 0 {
		keys = SortedKeys(append(slices.Clone(h.keys), keys...))
		h.releaseLocked()
	}
	q := h.lanes.queue
	// Wait in the lanes without the task's slot of the pool: the tasks
	// ahead in them may be waiting for one.
	q.freeSlot()
	leave, _, err := q.enterLanes(ctx, keys, h.ticket.Kind, h.ticket.ID, h.ticket.Seq, false)
	q.takeSlot()
	if err != nil {
		return err
	}
	leases, err := h.lanes.leases.acquire(h.waitCtx, keys, h.ticket.Log)
	if err != nil {
		leave()
		return err
	}
	h.keys = SortedKeys(append(h.keys, keys...))
	h.leaves = append(h.leaves, leave)
	h.leases = append(h.leases, leases)
	return nil
}

// release lets go of every release the task holds.
func (h *holds) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseLocked()
}

func (h *holds) releaseLocked() {
	for i := range slices.Backward(h.leaves) {
		h.leases[i].release(h.ticket.Log)
		h.leaves[i]()
	}
	h.keys, h.leaves, h.leases = nil, nil, nil
}
