// Package kvretry retries the operations of a JetStream key-value bucket
// through the moments a NATS cluster cannot answer them: a new leader
// being elected for the bucket's stream, the connection moving to another
// server. A failure that says something about the key (not found, exists,
// wrong revision) is returned at once.
package kvretry

import (
	"context"
	"errors"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// Store is the part of a key-value bucket the ledger and the leases use.
type Store interface {
	Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error)
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error)
	Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error)
	Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error
}

// Defaults of a Bucket.
const (
	// DefaultBudget is how long an operation is tried: longer than a
	// JetStream leader election takes (a few seconds).
	DefaultBudget = 20 * time.Second
	// DefaultAttemptTimeout bounds one attempt.
	DefaultAttemptTimeout = 5 * time.Second
)

// Bucket is a Store whose operations are tried again, with backoff, while
// they fail for a reason that passes, for up to a budget or until the
// caller's context ends.
type Bucket struct {
	store          Store
	budget         time.Duration
	attemptTimeout time.Duration
	firstPause     time.Duration
}

// Option changes a Bucket.
type Option func(*Bucket)

// WithBudget sets how long an operation is tried in all.
func WithBudget(d time.Duration) Option { return func(b *Bucket) { b.budget = d } }

// WithAttemptTimeout bounds one attempt.
func WithAttemptTimeout(d time.Duration) Option { return func(b *Bucket) { b.attemptTimeout = d } }

// New wraps store.
func New(store Store, opts ...Option) *Bucket {
	b := &Bucket{store: store, budget: DefaultBudget, attemptTimeout: DefaultAttemptTimeout, firstPause: 100 * time.Millisecond}
	for _, o := range opts {
		o(b)
	}
	return b
}

// Passing reports whether err is one that a moment later may not recur:
// the request timed out or found no responder (no leader yet), JetStream
// answered 503 (temporarily unavailable), or the connection is
// reconnecting.
func Passing(err error) bool {
	var api *jetstream.APIError
	switch {
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, nats.ErrTimeout),
		errors.Is(err, nats.ErrNoResponders), errors.Is(err, jetstream.ErrNoStreamResponse),
		errors.Is(err, nats.ErrConnectionReconnecting), errors.Is(err, nats.ErrDisconnected):
		return true
	case errors.As(err, &api):
		return api.Code == 503
	}
	return false
}

// do runs op until it succeeds, fails for a reason that does not pass,
// the budget is spent or ctx ends; it returns op's last error.
func do[T any](ctx context.Context, b *Bucket, op func(ctx context.Context) (T, error)) (T, error) {
	deadline := time.Now().Add(b.budget)
	pause := b.firstPause
	for {
		attemptCtx, cancel := context.WithTimeout(ctx, b.attemptTimeout)
		v, err := op(attemptCtx)
		cancel()
		if err == nil || !Passing(err) || ctx.Err() != nil || time.Now().Add(pause).After(deadline) {
			return v, err
		}
		t := time.NewTimer(pause)
		select {
		case <-ctx.Done():
			t.Stop()
			return v, err
		case <-t.C:
		}
		pause = min(2*pause, 2*time.Second)
	}
}

// Get implements Store.
func (b *Bucket) Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error) {
	return do(ctx, b, func(ctx context.Context) (jetstream.KeyValueEntry, error) { return b.store.Get(ctx, key) })
}

// Put implements Store.
func (b *Bucket) Put(ctx context.Context, key string, value []byte) (uint64, error) {
	return do(ctx, b, func(ctx context.Context) (uint64, error) { return b.store.Put(ctx, key, value) })
}

// Create implements Store. A create whose answer was lost and that is
// tried again fails with jetstream.ErrKeyExists: the caller tells its own
// entry by its value.
func (b *Bucket) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	return do(ctx, b, func(ctx context.Context) (uint64, error) { return b.store.Create(ctx, key, value, opts...) })
}

// Update implements Store. An update whose answer was lost and that is
// tried again fails with a wrong-revision error: the caller tells its own
// write by the entry's value.
func (b *Bucket) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	return do(ctx, b, func(ctx context.Context) (uint64, error) { return b.store.Update(ctx, key, value, revision) })
}

// Delete implements Store.
func (b *Bucket) Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error {
	_, err := do(ctx, b, func(ctx context.Context) (struct{}, error) { return struct{}{}, b.store.Delete(ctx, key, opts...) })
	return err
}
