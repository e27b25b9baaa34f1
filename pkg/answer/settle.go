package answer

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// settleTimeout bounds the wait for the server to confirm an ack.
const settleTimeout = 10 * time.Second

// Ack acknowledges the delivery, waiting up to settleTimeout for the
// server's confirmation even after ctx ends.
func Ack(ctx context.Context, del Delivery, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	if err := del.Ack(ctx); err != nil {
		log.Warn("cannot acknowledge the trigger; it may be delivered again and will be answered from the ledger", "error", err)
	}
}

// nak hands the delivery back to the bus for another delivery at once.
func nak(del Delivery, log *slog.Logger) {
	if err := del.Nak(0); err != nil {
		log.Warn("cannot hand the trigger back; it is delivered again after the ack wait", "error", err)
	}
}

// beat tells the bus, until stopped, that the delivery is still being
// worked on.
func (a *Answerer) beat(del Delivery, log *slog.Logger) (stop func()) {
	if !del.Settled() {
		return func() {}
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(a.heartbeat)
		defer tick.Stop()
		for {
			select {
			case <-done:
				return
			case <-tick.C:
				if err := del.InProgress(); err != nil {
					log.Debug("cannot signal progress", "error", err)
				}
			}
		}
	})
	return func() { close(done); wg.Wait() }
}
