package handler

import (
	"context"
	"errors"
	"slices"
	"sync"
)

// errStopping is returned to tasks that had not started when the queue
// stopped taking work.
var errStopping = errors.New("helm-service is shutting down; the task did not start and will be delivered again")

// releaseQueue runs tasks one release at a time, in arrival order, on a
// bounded pool; different releases run in parallel. Among the tasks of one
// kind queued back to back for one release, only the newest runs when the
// kind is superseding (deployments are: a newer one replaces an older).
type releaseQueue struct {
	slots    chan struct{}
	stopping chan struct{}
	stopOnce sync.Once

	mu    sync.Mutex
	lanes map[string]*lane
}

// lane is the queue of one release.
type lane struct {
	waiting []*ticket // by seq
	running *ticket
	// last is the newest superseding ticket that ran, to refuse an older
	// one that arrives late.
	last *ticket
}

// ticket is a task's place in its release's queue.
type ticket struct {
	key, id, kind string
	seq           uint64
	superseding   bool

	ready        chan struct{} // closed when the ticket leaves the waiting list
	supersededBy string        // set before ready is closed, when superseded
}

func newReleaseQueue(parallel int) *releaseQueue {
	return &releaseQueue{
		slots:    make(chan struct{}, parallel),
		stopping: make(chan struct{}),
		lanes:    map[string]*lane{},
	}
}

// stop makes every task that has not started yet give up with errStopping.
func (q *releaseQueue) stop() { q.stopOnce.Do(func() { close(q.stopping) }) }

// waitContext returns a context that ends with ctx or when the queue stops
// taking work (its cause is then errStopping).
func (q *releaseQueue) waitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-q.stopping:
			cancel(errStopping)
		case <-wctx.Done():
		}
	}()
	return wctx, func() { cancel(nil) }
}

// acquire waits for the ticket's turn and a slot of the pool. It returns
// release, to call when the task is done, or supersededBy (the id of the
// newer trigger) when the task must not run, or errStopping/ctx's error.
// An empty key runs at once on a slot, outside any lane.
func (q *releaseQueue) acquire(ctx context.Context, key, kind, id string, seq uint64, superseding bool) (release func(), supersededBy string, err error) {
	leaveLane := func() {}
	if key != "" {
		t := &ticket{key: key, id: id, kind: kind, seq: seq, superseding: superseding, ready: make(chan struct{})}
		q.enter(t)
		select {
		case <-t.ready:
		case <-q.stopping:
			if !q.withdraw(t) {
				q.leave(t)
			}
			return nil, "", errStopping
		case <-ctx.Done():
			if !q.withdraw(t) {
				q.leave(t)
			}
			return nil, "", ctx.Err()
		}
		if t.supersededBy != "" {
			return nil, t.supersededBy, nil
		}
		leaveLane = func() { q.leave(t) }
	}
	select {
	case q.slots <- struct{}{}:
	case <-q.stopping:
		leaveLane()
		return nil, "", errStopping
	case <-ctx.Done():
		leaveLane()
		return nil, "", ctx.Err()
	}
	return func() { <-q.slots; leaveLane() }, "", nil
}

// enter puts t in its lane in seq order and lets the lane advance.
func (q *releaseQueue) enter(t *ticket) {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.lanes[t.key]
	if l == nil {
		l = &lane{}
		q.lanes[t.key] = l
	}
	i, _ := slices.BinarySearchFunc(l.waiting, t.seq, func(w *ticket, seq uint64) int {
		switch {
		case w.seq < seq:
			return -1
		case w.seq > seq:
			return 1
		}
		return 0
	})
	l.waiting = slices.Insert(l.waiting, i, t)
	q.advance(t.key, l)
}

// withdraw removes a waiting ticket; false means it already left the
// waiting list (it runs or was superseded).
func (q *releaseQueue) withdraw(t *ticket) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.lanes[t.key]
	if l == nil {
		return false
	}
	i := slices.Index(l.waiting, t)
	if i < 0 {
		return false
	}
	l.waiting = slices.Delete(l.waiting, i, i+1)
	q.advance(t.key, l)
	return true
}

// leave ends the running ticket t (a no-op for a superseded one).
func (q *releaseQueue) leave(t *ticket) {
	q.mu.Lock()
	defer q.mu.Unlock()
	l := q.lanes[t.key]
	if l == nil || l.running != t {
		return
	}
	l.running = nil
	q.advance(t.key, l)
}

// advance starts the next ticket of the lane when none runs, answering the
// superseded ones on the way. q.mu is held.
func (q *releaseQueue) advance(key string, l *lane) {
	for l.running == nil && len(l.waiting) > 0 {
		head := l.waiting[0]
		l.waiting = l.waiting[1:]
		if by := supersededBy(head, l); by != "" {
			head.supersededBy = by
			close(head.ready)
			continue
		}
		l.running = head
		if head.superseding {
			l.last = head
		}
		close(head.ready)
	}
	if l.running == nil && len(l.waiting) == 0 && l.last == nil {
		delete(q.lanes, key)
	}
}

// supersededBy names the trigger that makes head pointless: the newest
// ticket of the same kind queued right behind it, or a newer one of the
// same kind that already ran.
func supersededBy(head *ticket, l *lane) string {
	if !head.superseding {
		return ""
	}
	by := ""
	for _, w := range l.waiting {
		if w.kind != head.kind {
			break
		}
		by = w.id
	}
	if by == "" && l.last != nil && l.last.kind == head.kind && l.last.seq > head.seq {
		by = l.last.id
	}
	return by
}
