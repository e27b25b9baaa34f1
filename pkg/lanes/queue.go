package lanes

import (
	"cmp"
	"context"
	"slices"
	"sync"
)

// queue runs tasks one release at a time, in stream order, on a
// bounded pool; tasks on different releases run in parallel. A task may
// touch several releases (a blue/green deployment upgrades <svc>-primary
// and <svc>-canary): its ticket waits in the lane of each, and runs once it
// heads all of them. Tickets enter every lane at once and lanes are ordered
// by one total order (stream sequence, then arrival), so two tasks never
// each hold a release the other waits for. Among the tasks of one kind on
// the same releases queued back to back, only the newest runs when the kind
// is superseding (deployments are: a newer one replaces an older).
type queue struct {
	slots    chan struct{}
	stopping chan struct{}
	stopOnce sync.Once

	mu       sync.Mutex
	lanes    map[string]*lane
	arrivals uint64 // orders tickets of one sequence number
}

// lane is the queue of one release.
type lane struct {
	waiting []*ticket // in ticket order
	running *ticket
	// ran holds, per kind and set of releases, the newest superseding
	// ticket that ran, to refuse an older one that arrives late.
	ran []*ticket
}

// ticket is a task's place in the queues of the releases it touches.
type ticket struct {
	keys          []string // sorted, distinct
	id, kind      string
	seq, arrival  uint64
	superseding   bool
	ready         chan struct{} // closed when the ticket leaves the waiting lists
	supersededBy  string        // set before ready is closed, when superseded
	supersederRan bool          // the superseding ticket already ran
}

// before orders tickets: stream sequence, then arrival.
func (t *ticket) before(o *ticket) bool {
	return cmp.Or(cmp.Compare(t.seq, o.seq), cmp.Compare(t.arrival, o.arrival)) < 0
}

// sameWork tells whether two tickets are of one kind on the same releases:
// then the newer makes the older pointless when the kind is superseding.
func (t *ticket) sameWork(o *ticket) bool {
	return t.kind == o.kind && slices.Equal(t.keys, o.keys)
}

func newQueue(parallel int) *queue {
	return &queue{
		slots:    make(chan struct{}, parallel),
		stopping: make(chan struct{}),
		lanes:    map[string]*lane{},
	}
}

// stop makes every task that has not started yet give up with ErrStopping.
func (q *queue) stop() { q.stopOnce.Do(func() { close(q.stopping) }) }

// waitContext returns a context that ends with ctx or when the queue stops
// taking work (its cause is then ErrStopping).
func (q *queue) waitContext(ctx context.Context) (context.Context, context.CancelFunc) {
	wctx, cancel := context.WithCancelCause(ctx)
	go func() {
		select {
		case <-q.stopping:
			cancel(ErrStopping)
		case <-wctx.Done():
		}
	}()
	return wctx, func() { cancel(nil) }
}

// superseded names the newer trigger that replaces a task, and whether it
// already ran.
type superseded struct {
	by  string
	ran bool
}

// acquire waits for the ticket's turn on every release of keys (sorted,
// distinct release keys) and for a slot of the pool. It returns release,
// to call when the task is done, or by when a newer trigger makes the task
// pointless, or ErrStopping/ctx's error. With no keys the task runs at
// once on a slot, outside any lane.
func (q *queue) acquire(ctx context.Context, keys []string, kind, id string, seq uint64, superseding bool) (release func(), by *superseded, err error) {
	leaveLanes, by, err := q.enterLanes(ctx, keys, kind, id, seq, superseding)
	if err != nil || by != nil {
		return nil, by, err
	}
	select {
	case q.slots <- struct{}{}:
	case <-q.stopping:
		leaveLanes()
		return nil, nil, ErrStopping
	case <-ctx.Done():
		leaveLanes()
		return nil, nil, ctx.Err()
	}
	return func() { q.freeSlot(); leaveLanes() }, nil, nil
}

// freeSlot gives back a slot of the pool that acquire or takeSlot took.
func (q *queue) freeSlot() { <-q.slots }

// takeSlot waits for a slot of the pool. It is for a running task that gave
// its slot back with freeSlot while it waited in lanes: it never gives up,
// since the task returns the slot when it ends.
func (q *queue) takeSlot() { q.slots <- struct{}{} }

// enterLanes waits for the ticket's turn on every release of keys, without
// a slot. It returns leave, which lets the next tickets of the lanes go.
func (q *queue) enterLanes(ctx context.Context, keys []string, kind, id string, seq uint64, superseding bool) (leave func(), by *superseded, err error) {
	if len(keys) == 0 {
		return func() {}, nil, nil
	}
	t := &ticket{keys: keys, id: id, kind: kind, seq: seq, superseding: superseding, ready: make(chan struct{})}
	q.enter(t)
	select {
	case <-t.ready:
	case <-q.stopping:
		if !q.withdraw(t) {
			q.leave(t)
		}
		return nil, nil, ErrStopping
	case <-ctx.Done():
		if !q.withdraw(t) {
			q.leave(t)
		}
		return nil, nil, ctx.Err()
	}
	if t.supersededBy != "" {
		return nil, &superseded{by: t.supersededBy, ran: t.supersederRan}, nil
	}
	var once sync.Once
	return func() { once.Do(func() { q.leave(t) }) }, nil, nil
}

// enter puts t in the lane of each of its releases, in ticket order, and
// lets the lanes advance.
func (q *queue) enter(t *ticket) {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.arrivals++
	t.arrival = q.arrivals
	for _, key := range t.keys {
		l := q.lanes[key]
		if l == nil {
			l = &lane{}
			q.lanes[key] = l
		}
		i, _ := slices.BinarySearchFunc(l.waiting, t, func(w, t *ticket) int {
			if w.before(t) {
				return -1
			}
			return 1
		})
		l.waiting = slices.Insert(l.waiting, i, t)
	}
	q.advance(t.keys)
}

// withdraw removes a waiting ticket; false means it already left the
// waiting lists (it runs or was superseded).
func (q *queue) withdraw(t *ticket) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if !q.unwait(t) {
		return false
	}
	q.advance(t.keys)
	return true
}

// unwait takes a waiting ticket out of its lanes; false means it was not
// waiting. q.mu is held.
func (q *queue) unwait(t *ticket) bool {
	found := false
	for _, key := range t.keys {
		l := q.lanes[key]
		if l == nil {
			continue
		}
		if i := slices.Index(l.waiting, t); i >= 0 {
			l.waiting = slices.Delete(l.waiting, i, i+1)
			found = true
		}
	}
	return found
}

// leave ends the running ticket t (a no-op for a superseded one).
func (q *queue) leave(t *ticket) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, key := range t.keys {
		if l := q.lanes[key]; l != nil && l.running == t {
			l.running = nil
		}
	}
	q.advance(t.keys)
}

// advance starts, in the lanes of keys and in those their changes reach,
// every ticket that heads all its lanes while none of them runs a ticket,
// answering the superseded ones on the way. q.mu is held.
func (q *queue) advance(keys []string) {
	pending := slices.Clone(keys)
	for len(pending) > 0 {
		key := pending[len(pending)-1]
		pending = pending[:len(pending)-1]
		l := q.lanes[key]
		if l == nil {
			continue
		}
		if l.running == nil && len(l.waiting) > 0 && q.startable(l.waiting[0]) {
			head := l.waiting[0]
			if by := q.supersededBy(head); by != nil {
				q.unwait(head)
				head.supersededBy, head.supersederRan = by.by, by.ran
				close(head.ready)
				pending = append(pending, head.keys...) // new heads
				continue
			}
			for _, k := range head.keys {
				hl := q.lanes[k]
				hl.waiting = hl.waiting[1:]
				hl.running = head
				if head.superseding {
					hl.remember(head)
				}
			}
			close(head.ready)
			continue
		}
		if l.running == nil && len(l.waiting) == 0 && len(l.ran) == 0 {
			delete(q.lanes, key)
		}
	}
}

// startable tells whether t heads the lane of each of its releases and
// none of them runs a ticket. q.mu is held.
func (q *queue) startable(t *ticket) bool {
	for _, key := range t.keys {
		l := q.lanes[key]
		if l.running != nil || l.waiting[0] != t {
			return false
		}
	}
	return true
}

// remember records t as the newest ticket of its work that ran on l.
func (l *lane) remember(t *ticket) {
	for i, r := range l.ran {
		if r.sameWork(t) {
			l.ran[i] = t
			return
		}
	}
	l.ran = append(l.ran, t)
}

// supersededBy names the trigger that makes head (heading its lanes)
// pointless: the newest ticket of the same work queued right behind it in
// every lane, or a newer one of the same work that already ran. q.mu is
// held.
func (q *queue) supersededBy(head *ticket) *superseded {
	if !head.superseding {
		return nil
	}
	// The tickets of the same work behind head are the same ones, in the
	// same order, in each of its lanes; they count only as far as nothing
	// else comes between, in any lane.
	n, behind := -1, []*ticket(nil)
	for _, key := range head.keys {
		waiting := q.lanes[key].waiting[1:]
		c := 0
		for c < len(waiting) && waiting[c].sameWork(head) {
			c++
		}
		if n < 0 || c < n {
			n, behind = c, waiting
		}
	}
	if n > 0 {
		return &superseded{by: behind[n-1].id}
	}
	for _, key := range head.keys {
		for _, r := range q.lanes[key].ran {
			if r.sameWork(head) && r.seq > head.seq {
				return &superseded{by: r.id, ran: true}
			}
		}
	}
	return nil
}
