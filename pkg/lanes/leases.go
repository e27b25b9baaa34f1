package lanes

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"time"

	"github.com/helm-service/helm-service/pkg/lease"
)

// leaser takes the leases of releases; noLeases when there are none.
type leaser interface {
	acquire(ctx context.Context, keys []string, log *slog.Logger) (heldLeases, error)
}

// noLeases is the leaser of lanes without leases: a task holds its releases
// in this process only.
type noLeases struct{}

func (noLeases) acquire(context.Context, []string, *slog.Logger) (heldLeases, error) {
	return nil, nil
}

// busLeases take the leases of the bus.
type busLeases struct{ Leases }

// acquire takes the lease of each release key in order (keys are sorted in
// KeyOrder): every replica takes them in this order, so two replicas never
// each hold a lease the other waits for. On an error it gives back those
// it took.
func (b busLeases) acquire(ctx context.Context, keys []string, log *slog.Logger) (heldLeases, error) {
	held := make(heldLeases, 0, len(keys))
	for _, key := range keys {
		l, err := b.Acquire(ctx, key)
		if err != nil {
			held.release(log)
			return nil, err
		}
		held = append(held, l)
	}
	return held, nil
}

// heldLeases are the leases of the releases a task works on, taken in
// KeyOrder.
type heldLeases []*lease.Lease

// exclusive tells whether leases are held.
func (h heldLeases) exclusive() bool { return len(h) > 0 }

// releaseTimeout bounds giving the leases back.
const releaseTimeout = 10 * time.Second

// release gives the leases back, the last taken first.
func (h heldLeases) release(log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), releaseTimeout)
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
