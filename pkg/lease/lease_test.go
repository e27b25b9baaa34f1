package lease

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/kvretry"
)

// bucket starts a NATS server in the test process and opens a lease bucket
// with the given TTL on it.
func bucket(t *testing.T, ttl time.Duration) jetstream.KeyValue {
	t.Helper()
	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	bus, err := eventbus.Connect(context.Background(), eventbus.Options{URL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(bus.Close)
	kv, err := bus.LeaseBucket(context.Background(), "locks", ttl)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func TestSecondHolderWaitsForTheFirst(t *testing.T) {
	kv := bucket(t, 3*time.Second)
	a := New(kv, "replica-a", 3*time.Second, quiet())
	b := New(kv, "replica-b", 3*time.Second, quiet())
	ctx := context.Background()

	held, err := a.TryAcquire(ctx, "shop-prod/carts")
	if err != nil {
		t.Fatal(err)
	}
	_, err = b.TryAcquire(ctx, "shop-prod/carts")
	if !errors.Is(err, ErrHeld) {
		t.Fatalf("second TryAcquire: err = %v, want ErrHeld", err)
	}
	if want := "replica-a"; err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("error %q does not name the holder %s", err, want)
	}
	// Another release is free.
	other, err := b.TryAcquire(ctx, "shop-prod/orders")
	if err != nil {
		t.Fatalf("another release: %v", err)
	}
	defer other.Release(ctx)

	got := make(chan *Lease)
	go func() {
		l, err := b.Acquire(ctx, "shop-prod/carts")
		if err != nil {
			t.Error(err)
		}
		got <- l
	}()
	select {
	case <-got:
		t.Fatal("b acquired the lease while a held it")
	case <-time.After(500 * time.Millisecond):
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	select {
	case l := <-got:
		if err := l.Release(ctx); err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("b did not get the lease after a released it")
	}
}

func TestHoldersNeverOverlap(t *testing.T) {
	kv := bucket(t, 3*time.Second)
	var inside, overlaps, runs atomic.Int32
	var wg sync.WaitGroup
	for i := range 3 {
		m := New(kv, string(rune('a'+i)), 3*time.Second, quiet())
		m.poll, m.maxPoll = 5*time.Millisecond, 20*time.Millisecond
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				l, err := m.Acquire(context.Background(), "ns/rel")
				if err != nil {
					t.Error(err)
					return
				}
				if inside.Add(1) > 1 {
					overlaps.Add(1)
				}
				runs.Add(1)
				time.Sleep(2 * time.Millisecond)
				inside.Add(-1)
				if err := l.Release(context.Background()); err != nil {
					t.Error(err)
				}
			}
		}()
	}
	wg.Wait()
	if runs.Load() != 30 || overlaps.Load() != 0 {
		t.Fatalf("runs %d, overlaps %d; want 30 and 0", runs.Load(), overlaps.Load())
	}
}

func TestLeaseOfAVanishedHolderExpires(t *testing.T) {
	ttl := 2 * time.Second
	kv := bucket(t, ttl)
	ctx := context.Background()
	// A holder that dies: its entry is written, then never renewed nor
	// deleted.
	if _, err := kv.Create(ctx, Key("ns/rel"), []byte(`{"holder":"dead"}`)); err != nil {
		t.Fatal(err)
	}
	m := New(kv, "alive", ttl, quiet())
	if _, err := m.TryAcquire(ctx, "ns/rel"); !errors.Is(err, ErrHeld) {
		t.Fatalf("err = %v, want ErrHeld while the dead holder's entry lives", err)
	}
	start := time.Now()
	waitCtx, cancel := context.WithTimeout(ctx, 4*ttl)
	defer cancel()
	l, err := m.Acquire(waitCtx, "ns/rel")
	if err != nil {
		t.Fatalf("lease did not expire within %s: %v", 4*ttl, err)
	}
	defer l.Release(ctx)
	if waited := time.Since(start); waited < ttl/2 {
		t.Errorf("acquired after %s, before the TTL %s could have passed", waited, ttl)
	}
}

func TestRenewKeepsTheLeasePastItsTTL(t *testing.T) {
	ttl := 1500 * time.Millisecond
	kv := bucket(t, ttl)
	ctx := context.Background()
	a := New(kv, "a", ttl, quiet())
	b := New(kv, "b", ttl, quiet())
	held, err := a.TryAcquire(ctx, "ns/rel")
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(3 * ttl)
	for time.Now().Before(deadline) {
		if _, err := b.TryAcquire(ctx, "ns/rel"); !errors.Is(err, ErrHeld) {
			t.Fatalf("after %s the lease was not held any more: %v", time.Until(deadline), err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	select {
	case <-held.Lost():
		t.Fatal("the renewed lease reports lost")
	default:
	}
	if err := held.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := kv.Get(ctx, Key("ns/rel")); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Fatalf("entry after Release: %v, want ErrKeyNotFound", err)
	}
}

func TestStaleRevisionCannotDeleteAnothersLease(t *testing.T) {
	ttl := time.Second
	kv := bucket(t, ttl)
	ctx := context.Background()
	a := New(kv, "a", ttl, quiet())
	old, err := a.TryAcquire(ctx, "ns/rel")
	if err != nil {
		t.Fatal(err)
	}
	// a stops renewing (as a replica cut off from NATS would) and its
	// entry expires; b takes the lease.
	close(old.stop)
	<-old.renewed
	b := New(kv, "b", ttl, quiet())
	waitCtx, cancel := context.WithTimeout(ctx, 5*ttl)
	defer cancel()
	now, err := b.Acquire(waitCtx, "ns/rel")
	if err != nil {
		t.Fatal(err)
	}
	// a's delete, checked against its old revision, must fail and leave
	// b's lease in place.
	err = kv.Delete(ctx, Key("ns/rel"), jetstream.LastRevision(old.rev))
	if !errors.Is(err, jetstream.ErrKeyRevisionMismatch) {
		t.Fatalf("delete with a stale revision: %v, want ErrKeyRevisionMismatch", err)
	}
	e, err := kv.Get(ctx, Key("ns/rel"))
	if err != nil || !strings.Contains(string(e.Value()), `"holder":"b"`) {
		t.Fatalf("entry after the stale delete: %v %v, want b's", e, err)
	}
	if err := now.Release(ctx); err != nil {
		t.Fatal(err)
	}
}

func TestRenewNoticesALostLease(t *testing.T) {
	ttl := 900 * time.Millisecond
	kv := bucket(t, ttl)
	ctx := context.Background()
	a := New(kv, "a", ttl, quiet())
	l, err := a.TryAcquire(ctx, "ns/rel")
	if err != nil {
		t.Fatal(err)
	}
	// Someone overwrites the entry: a's next revision-checked renewal
	// fails and the lease reports lost; Release leaves the other's entry.
	if _, err := kv.Put(ctx, Key("ns/rel"), []byte(`{"holder":"intruder"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(3 * ttl):
		t.Fatal("renewing did not notice the lost lease")
	}
	if err := l.Release(ctx); !errors.Is(err, ErrLost) {
		t.Fatalf("Release of a lost lease: %v, want ErrLost", err)
	}
	if e, err := kv.Get(ctx, Key("ns/rel")); err != nil || !strings.Contains(string(e.Value()), "intruder") {
		t.Fatalf("the other's entry: %v %v", e, err)
	}
}

func TestAcquireGivesUpWhenTheContextEnds(t *testing.T) {
	kv := bucket(t, 10*time.Second)
	ctx := context.Background()
	a := New(kv, "a", 10*time.Second, quiet())
	held, err := a.TryAcquire(ctx, "ns/rel")
	if err != nil {
		t.Fatal(err)
	}
	defer held.Release(ctx)
	waitCtx, cancel := context.WithTimeout(ctx, 300*time.Millisecond)
	defer cancel()
	if _, err := New(kv, "b", 10*time.Second, quiet()).Acquire(waitCtx, "ns/rel"); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want DeadlineExceeded", err)
	}
}

func TestKeyIsValidForAnyName(t *testing.T) {
	for name, want := range map[string]string{
		"sockshop-staging/carts": "release.sockshop-staging.carts",
		"a/b":                    "release.a.b",
		"Upper/case":             "",
		"ns/with space":          "",
		"ns/*":                   "",
		"ns/>":                   "",
		"../x":                   "",
		"":                       "",
	} {
		got := Key(name)
		if want != "" && got != want {
			t.Errorf("Key(%q) = %q, want %q", name, got, want)
		}
		if !validKey(got) {
			t.Errorf("Key(%q) = %q is not a valid key-value key", name, got)
		}
	}
	if Key("Upper/case") == Key("upper/case") {
		t.Error("different names share a key")
	}
}

// validKey is the key-value store's rule for keys.
func validKey(k string) bool {
	if k == "" || k[0] == '.' || k[len(k)-1] == '.' {
		return false
	}
	for i := range len(k) {
		c := k[i]
		ok := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '=' || c == '.' || c == '/'
		if !ok || (c == '.' && i > 0 && k[i-1] == '.') {
			return false
		}
	}
	return true
}

// lossyStore does each write on the bucket, then loses the answer of the
// first write of each kind, as a JetStream leader election can.
type lossyStore struct {
	jetstream.KeyValue
	lostCreate, lostUpdate atomic.Bool
}

func (s *lossyStore) Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error) {
	rev, err := s.KeyValue.Create(ctx, key, value, opts...)
	if err == nil && s.lostCreate.CompareAndSwap(false, true) {
		return 0, nats.ErrTimeout
	}
	return rev, err
}

func (s *lossyStore) Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error) {
	rev, err := s.KeyValue.Update(ctx, key, value, revision)
	if err == nil && s.lostUpdate.CompareAndSwap(false, true) {
		return 0, nats.ErrTimeout
	}
	return rev, err
}

// A create or renewal that landed but whose answer was lost is tried
// again (kvretry) and meets its own write: the lease is taken at once and
// kept, not waited for until it expires, nor reported lost.
func TestLostAnswersKeepTheLease(t *testing.T) {
	kv := bucket(t, 3*time.Second)
	store := &lossyStore{KeyValue: kv}
	m := New(kvretry.New(store), "replica-a", 3*time.Second, quiet())
	start := time.Now()
	l, err := m.TryAcquire(context.Background(), "ns/carts")
	if err != nil {
		t.Fatalf("take a lease whose create answer was lost: %v", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("took %s", took)
	}
	time.Sleep(2500 * time.Millisecond) // past two renewals, the first of them lost
	select {
	case <-l.Lost():
		t.Fatal("the lease was reported lost after a renewal whose answer was lost")
	default:
	}
	if !store.lostUpdate.Load() {
		t.Fatal("no renewal happened")
	}
	if err := l.Release(context.Background()); err != nil {
		t.Errorf("release: %v", err)
	}
}
