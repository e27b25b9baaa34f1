package handler

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"sync"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/lease"
)

// heldLeases are the leases of the releases a task works on, taken in
// releaseKeyOrder.
type heldLeases []*lease.Lease

// acquireLeases takes the lease of each release key in order (keys are
// sorted, see releaseKeys): every replica takes them in this order, so two
// replicas never each hold a lease the other waits for. On an error it
// gives back those it took.
func (d *Dispatcher) acquireLeases(ctx context.Context, keys []string) (heldLeases, error) {
	held := make(heldLeases, 0, len(keys))
	for _, key := range keys {
		l, err := d.opts.Leases.Acquire(ctx, key)
		if err != nil {
			held.release(d.log)
			return nil, err
		}
		held = append(held, l)
	}
	return held, nil
}

// release gives the leases back, the last taken first.
func (h heldLeases) release(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), settleTimeout)
	defer cancel()
	for _, l := range slices.Backward(h) {
		if err := l.Release(ctx); err != nil {
			log.Warn("cannot release the lease of the release", "release", l.Name(), "error", err)
		}
	}
}

// stopOnLoss calls stop once one of the leases is lost, until ctx ends.
func (h heldLeases) stopOnLoss(ctx context.Context, stop context.CancelCauseFunc) {
	for _, l := range h {
		go func() {
			select {
			case <-l.Lost():
				stop(fmt.Errorf("the lease of release %s was lost", l.Name()))
			case <-ctx.Done():
			}
		}()
	}
}

// releaseHolds are the releases a running task takes besides those the
// dispatcher queued it for: service removal learns which releases it
// removes only once it runs. They are held like those, in the release's
// queue and with its lease, until the trigger is settled.
type releaseHolds struct {
	d        *Dispatcher
	kind, id string
	seq      uint64
	waitCtx  context.Context // ends when this process stops taking work
	log      *slog.Logger

	mu     sync.Mutex
	keys   []string // held, in releaseKeyOrder
	leaves []func()
	leases []heldLeases
}

// holdReleases makes the task wait for its turn on each release of keys
// (release keys, namespace/name), in the release's queue in stream order
// and then for its lease, as every task on the release does, and holds
// them until the trigger is settled. Keys already held are skipped. A task
// that holds releases in several calls makes them in releaseKeyOrder
// (namespace by namespace, as helm.Record lists sort); a call out of that
// order first lets go of what the task holds and takes it all again. The
// error wraps errStopping, or is ctx's, when helm-service stops meanwhile.
func (t Trigger) holdReleases(ctx context.Context, keys []string) error {
	if t.holds == nil {
		return nil // not run by a dispatcher: no queue to wait in
	}
	return t.holds.hold(ctx, keys)
}

func (h *releaseHolds) hold(ctx context.Context, keys []string) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	keys = slices.DeleteFunc(sortedKeys(keys), func(k string) bool {
		_, held := slices.BinarySearchFunc(h.keys, k, releaseKeyOrder)
		return held
	})
	if len(keys) == 0 {
		return nil
	}
	if len(h.keys) > 0 && releaseKeyOrder(keys[0], h.keys[len(h.keys)-1]) < 0 {
		keys = sortedKeys(append(slices.Clone(h.keys), keys...))
		h.releaseLocked()
	}
	// Wait in the lanes without the task's slot of the pool: the tasks
	// ahead in them may be waiting for one.
	h.d.queue.freeSlot()
	leave, _, err := h.d.queue.enterLanes(ctx, keys, h.kind, h.id, h.seq, false)
	h.d.queue.takeSlot()
	if err != nil {
		return err
	}
	var leases heldLeases
	if h.d.opts.Leases != nil {
		if leases, err = h.d.acquireLeases(h.waitCtx, keys); err != nil {
			leave()
			return err
		}
	}
	h.keys = sortedKeys(append(h.keys, keys...))
	h.leaves = append(h.leaves, leave)
	h.leases = append(h.leases, leases)
	return nil
}

// release lets go of every release the task holds.
func (h *releaseHolds) release() {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.releaseLocked()
}

func (h *releaseHolds) releaseLocked() {
	for i := range slices.Backward(h.leaves) {
		h.leases[i].release(h.log)
		h.leaves[i]()
	}
	h.keys, h.leaves, h.leases = nil, nil, nil
}

// releaseKeysIn are the release keys of the records in a namespace.
func releaseKeysIn(records []*helm.Record, namespace string) []string {
	var keys []string
	for _, r := range records {
		if r.Namespace == namespace {
			keys = append(keys, r.Namespace+"/"+r.Name)
		}
	}
	return sortedKeys(keys)
}
