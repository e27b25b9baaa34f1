package lanes

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// ticketWaits tells whether the ticket of trigger id waits in a lane.
func (l *Lanes) ticketWaits(id string) bool {
	q := l.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, ln := range q.lanes {
		for _, w := range ln.waiting {
			if w.id == id {
				return true
			}
		}
	}
	return false
}

// TestRunsTicketsOnSeveralReleasesWithoutDeadlock: tickets on overlapping
// sets of releases, entering in any order, all run, never two on one
// release at once, and leave no lane behind.
func TestRunsTicketsOnSeveralReleasesWithoutDeadlock(t *testing.T) {
	l := New(3)
	sets := [][]string{{"ns/a", "ns/b"}, {"ns/b", "ns/c"}, {"ns/c", "ns/a"}, {"ns/a"}, {"ns/a", "ns/b", "ns/c"}, {"ns/c"}}
	var mu sync.Mutex
	busy := map[string]bool{}
	var wg sync.WaitGroup
	for i := range 60 {
		keys := sets[i%len(sets)]
		wg.Add(1)
		go func() {
			defer wg.Done()
			pass, err := l.Enter(context.Background(), Ticket{Releases: keys, Kind: "task", ID: fmt.Sprint(i), Seq: uint64(60 - i)})
			defer pass.Leave()
			if err != nil {
				t.Errorf("ticket %d: %v", i, err)
				return
			}
			mu.Lock()
			for _, k := range keys {
				if busy[k] {
					t.Errorf("two tickets on %s at once", k)
				}
				busy[k] = true
			}
			mu.Unlock()
			time.Sleep(time.Millisecond)
			mu.Lock()
			for _, k := range keys {
				busy[k] = false
			}
			mu.Unlock()
		}()
	}
	finished := make(chan struct{})
	go func() { wg.Wait(); close(finished) }()
	select {
	case <-finished:
	case <-time.After(10 * time.Second):
		t.Fatal("tickets wait for each other")
	}
	if n := l.Busy(); n != 0 {
		t.Errorf("%d lanes left behind", n)
	}
}

// TestSupersedesOnlyTheSameWork: among deployments on the same releases
// queued back to back only the newest runs; one on a part of them (another
// service sharing a release) in between is not the same work and keeps the
// older one from being superseded.
func TestSupersedesOnlyTheSameWork(t *testing.T) {
	l := New(4)
	ctx := context.Background()
	blueGreen := []string{"ns/carts-canary", "ns/carts-primary"}
	running, err := l.Enter(ctx, Ticket{Releases: blueGreen, Kind: "deployment", ID: "running", Seq: 1, Superseding: true})
	if err != nil {
		t.Fatal(err)
	}
	type result struct {
		id  string
		err error
	}
	results := make(chan result, 8)
	enter := func(keys []string, id string, seq uint64) {
		go func() {
			pass, err := l.Enter(ctx, Ticket{Releases: keys, Kind: "deployment", ID: id, Seq: seq, Superseding: true})
			pass.Ran(ctx)
			pass.Leave()
			results <- result{id, err}
		}()
		eventually(t, id+" queues", func() bool { return l.Waiting(keys[len(keys)-1]) > 0 && l.ticketWaits(id) })
	}
	enter(blueGreen, "bg-2", 2)
	enter([]string{"ns/carts-primary"}, "direct-3", 3)
	enter(blueGreen, "bg-4", 4)
	enter(blueGreen, "bg-5", 5)
	running.Leave()
	got := map[string]string{}
	for range 4 {
		r := <-results
		got[r.id] = "ran"
		if r.err != nil {
			got[r.id] = r.err.Error()
		}
	}
	want := map[string]string{
		"bg-2":     "ran",
		"direct-3": "ran",
		"bg-4":     "superseded by trigger bg-5, a newer deployment of releases ns/carts-canary, ns/carts-primary queued behind this one; this one was not run",
		"bg-5":     "ran",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
	// A late one older than bg-5 is superseded by it, which already ran.
	pass, err := l.Enter(ctx, Ticket{Releases: blueGreen, Kind: "deployment", ID: "bg-late", Seq: 3, Superseding: true})
	pass.Leave()
	wantErr := &SupersededError{By: "bg-5", Kind: "deployment", Releases: blueGreen, Ran: true}
	if diff := cmp.Diff(error(wantErr), err, cmp.Comparer(func(a, b error) bool { return a.Error() == b.Error() })); diff != "" {
		t.Errorf("late ticket (-want +got):\n%s", diff)
	}
}
