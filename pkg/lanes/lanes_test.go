package lanes

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/lease"
	"github.com/helm-service/helm-service/pkg/ledger"
)

// bus starts a NATS server in the test process and connects to it.
func bus(t *testing.T) *eventbus.Bus {
	t.Helper()
	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: t.TempDir()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ns.Shutdown)
	b, err := eventbus.Connect(context.Background(), eventbus.Options{URL: ns.ClientURL()})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(b.Close)
	return b
}

func leaseBucket(t *testing.T, b *eventbus.Bus, ttl time.Duration) jetstream.KeyValue {
	t.Helper()
	kv, err := b.LeaseBucket(context.Background(), "locks", ttl)
	if err != nil {
		t.Fatal(err)
	}
	return kv
}

// TestEnterWaitsForAnotherReplicasLease: two replicas (two Lanes on one
// lease bucket) never work on one release at once; the second gets its
// turn once the first leaves.
func TestEnterWaitsForAnotherReplicasLease(t *testing.T) {
	ttl := 2 * time.Second
	kv := leaseBucket(t, bus(t), ttl)
	a := New(2, WithLeases(lease.New(kv, "replica-a", ttl, quiet)))
	b := New(2, WithLeases(lease.New(kv, "replica-b", ttl, quiet)))
	ctx := context.Background()
	keys := []string{"shop/carts-primary", "shop/carts-canary"}

	first, err := a.Enter(ctx, Ticket{Releases: keys, Kind: "deployment", ID: "a-1", Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !first.Exclusive() {
		t.Error("a pass holding leases is not exclusive")
	}
	entered := make(chan *Pass)
	go func() {
		p, err := b.Enter(ctx, Ticket{Releases: []string{"shop/carts-canary"}, Kind: "deployment", ID: "b-2", Seq: 2})
		if err != nil {
			t.Error(err)
		}
		entered <- p
	}()
	select {
	case <-entered:
		t.Fatal("the second replica entered while the first holds the release")
	case <-time.After(300 * time.Millisecond):
	}
	first.Leave()
	select {
	case p := <-entered:
		p.Leave()
	case <-time.After(5 * time.Second):
		t.Fatal("the second replica did not enter once the first left")
	}
}

// TestLostLeaseCancelsThePass: once another holder overwrites a lease the
// task holds, the pass's context ends, naming the release.
func TestLostLeaseCancelsThePass(t *testing.T) {
	ttl := 900 * time.Millisecond
	kv := leaseBucket(t, bus(t), ttl)
	l := New(1, WithLeases(lease.New(kv, "replica-a", ttl, quiet)))
	ctx := context.Background()
	p, err := l.Enter(ctx, Ticket{Releases: []string{"shop/carts"}, Kind: "deployment", ID: "t", Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Leave()
	if _, err := kv.Put(ctx, lease.Key("shop/carts"), []byte(`{"holder":"intruder"}`)); err != nil {
		t.Fatal(err)
	}
	select {
	case <-p.Context().Done():
	case <-time.After(3 * ttl):
		t.Fatal("the pass's context did not end when its lease was lost")
	}
	if diff := cmp.Diff("the lease of release shop/carts was lost", context.Cause(p.Context()).Error()); diff != "" {
		t.Errorf("cause (-want +got):\n%s", diff)
	}
}

// TestEnterRefusesAnOlderTriggerThanOneThatRan: a superseding trigger older
// than one of the same work that ran (on any replica sharing the run log)
// is refused, the releases held until it leaves; a newer one runs.
func TestEnterRefusesAnOlderTriggerThanOneThatRan(t *testing.T) {
	kv, err := bus(t).KeyValue(context.Background(), "tasks", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	runs := ledger.New(kv)
	ctx := context.Background()
	keys := []string{"shop/carts"}
	replicaA, replicaB := New(1, WithRunLog(runs)), New(1, WithRunLog(runs))
	ran, err := replicaA.Enter(ctx, Ticket{Releases: keys, Kind: "deployment", ID: "new", Seq: 5, Superseding: true})
	if err != nil {
		t.Fatal(err)
	}
	ran.Ran(ctx)
	ran.Leave()

	for _, tc := range []struct {
		name    string
		ticket  Ticket
		wantErr string
	}{
		{
			name:    "older of the same work",
			ticket:  Ticket{Releases: keys, Kind: "deployment", ID: "old", Seq: 3, Superseding: true},
			wantErr: "superseded by trigger new, a newer deployment of release shop/carts that already ran; this one was not run",
		},
		{name: "newer", ticket: Ticket{Releases: keys, Kind: "deployment", ID: "newer", Seq: 7, Superseding: true}},
		{name: "older of another kind", ticket: Ticket{Releases: keys, Kind: "action", ID: "scale", Seq: 3, Superseding: true}},
		{name: "older, not superseding", ticket: Ticket{Releases: keys, Kind: "deployment", ID: "plain", Seq: 3}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := replicaB.Enter(ctx, tc.ticket)
			defer p.Leave()
			got := ""
			if err != nil {
				got = err.Error()
			}
			if diff := cmp.Diff(tc.wantErr, got); diff != "" {
				t.Fatalf("error (-want +got):\n%s", diff)
			}
			if !replicaB.Running("shop/carts") {
				t.Error("the release is not held until the pass leaves")
			}
		})
	}
}

// TestStopSendsWaitingTicketsBack: once the lanes stop, a ticket waiting
// for its turn gives up with ErrStopping, as does a new one; the running
// one goes on.
func TestStopSendsWaitingTicketsBack(t *testing.T) {
	l := New(1)
	ctx := context.Background()
	running, err := l.Enter(ctx, Ticket{Releases: []string{"ns/a"}, Kind: "deployment", ID: "1", Seq: 1})
	if err != nil {
		t.Fatal(err)
	}
	waited := make(chan error)
	go func() {
		p, err := l.Enter(ctx, Ticket{Releases: []string{"ns/a"}, Kind: "deployment", ID: "2", Seq: 2})
		p.Leave()
		waited <- err
	}()
	eventually(t, "the second ticket waits", func() bool { return l.Waiting("ns/a") == 1 })
	l.Stop()
	if err := <-waited; !errors.Is(err, ErrStopping) {
		t.Errorf("waiting ticket: %v, want ErrStopping", err)
	}
	if _, err := l.Enter(ctx, Ticket{Kind: "deployment", ID: "3", Seq: 3}); !errors.Is(err, ErrStopping) {
		t.Errorf("new ticket: %v, want ErrStopping", err)
	}
	if running.Context().Err() != nil {
		t.Error("the running task was cancelled")
	}
	// The running task's waits end soon after Stop (they watch it from a
	// goroutine of their own), never its work.
	eventually(t, "the wait context of the running task ends with ErrStopping", func() bool {
		return errors.Is(context.Cause(running.WaitContext()), ErrStopping)
	})
	running.Leave()
	if n := l.Busy(); n != 0 {
		t.Errorf("%d lanes left behind", n)
	}
}

// TestHoldsOutOfOrderTakeEverythingAgainInOrder: a task that holds
// releases in several calls, not in the one order, lets go of what it
// holds and takes it all again, in order; releases it holds are not taken
// twice.
func TestHoldsOutOfOrderTakeEverythingAgainInOrder(t *testing.T) {
	l := New(4)
	ctx := context.Background()
	p, err := l.Enter(ctx, Ticket{Kind: "service.delete", ID: "t", Seq: 1}) // the task's slot
	if err != nil {
		t.Fatal(err)
	}
	for _, keys := range [][]string{{"shop-prod/carts"}, {"shop-prod/carts"}, {"shop-dev/carts", "shop-prod/carts"}} {
		if err := p.Hold(ctx, keys); err != nil {
			t.Fatal(err)
		}
	}
	if diff := cmp.Diff([]string{"shop-dev/carts", "shop-prod/carts"}, p.holds.keys); diff != "" {
		t.Errorf("holds (-want +got):\n%s", diff)
	}
	if len(p.holds.leaves) != 1 {
		t.Errorf("%d holds, want one taking both releases again", len(p.holds.leaves))
	}
	for _, key := range []string{"shop-dev/carts", "shop-prod/carts"} {
		if !l.Running(key) {
			t.Errorf("%s is not held", key)
		}
	}
	p.Leave()
	if n := l.Busy(); n != 0 {
		t.Errorf("%d lanes left behind", n)
	}
}

// TestHoldWaitsForTheTaskOnTheRelease: a release held while the task runs
// waits for the task that runs on it, without the holder's slot (the other
// task may be waiting for one), and is held until the holder leaves.
func TestHoldWaitsForTheTaskOnTheRelease(t *testing.T) {
	l := New(1)
	ctx := context.Background()
	removal, err := l.Enter(ctx, Ticket{Kind: "service.delete", ID: "removal", Seq: 2})
	if err != nil {
		t.Fatal(err)
	}
	// A deployment queued earlier holds the release, waiting for the only
	// slot the removal has.
	deployed := make(chan *Pass)
	go func() {
		p, err := l.Enter(ctx, Ticket{Releases: []string{"shop/carts"}, Kind: "deployment", ID: "deploy", Seq: 1})
		if err != nil {
			t.Error(err)
		}
		deployed <- p
	}()
	eventually(t, "the deployment runs in the lane", func() bool { return l.Running("shop/carts") })
	held := make(chan error)
	go func() { held <- removal.Hold(ctx, []string{"shop/carts"}) }()
	deployment := <-deployed
	select {
	case err := <-held:
		t.Fatalf("the removal held the release while the deployment runs: %v", err)
	case <-time.After(100 * time.Millisecond):
	}
	deployment.Leave()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if !l.Running("shop/carts") {
		t.Error("the removal does not hold the release")
	}
	removal.Leave()
	if n := l.Busy(); n != 0 {
		t.Errorf("%d lanes left behind", n)
	}
}

// TestEnterWithoutReleasesRunsAtOnce: a ticket without releases waits only
// for a slot and holds no lane.
func TestEnterWithoutReleasesRunsAtOnce(t *testing.T) {
	l := New(1, WithLeases(nil), WithRunLog(nil))
	p, err := l.Enter(context.Background(), Ticket{Kind: "get-sli", ID: "t", Seq: 1, Superseding: true})
	if err != nil {
		t.Fatal(err)
	}
	if p.Exclusive() || l.Busy() != 0 || len(p.Releases()) != 0 {
		t.Errorf("exclusive %v, %d lanes, releases %v: want none", p.Exclusive(), l.Busy(), p.Releases())
	}
	p.Ran(context.Background())
	p.Leave()
	p.Leave() // a second Leave does nothing
	if !strings.Contains(ErrStopping.Error(), "will be delivered again") {
		t.Errorf("ErrStopping = %q", ErrStopping)
	}
}

var quiet = slog.New(slog.DiscardHandler)
