// Package lanes orders the work on Helm releases: one task at a time per
// release, in stream order, on a bounded pool, across replicas with leases,
// and without running a trigger that a newer one of the same work replaces.
// A task gets all of that from one call, Enter.
package lanes

import (
	"context"
	"log/slog"
	"strings"

	"github.com/helm-service/helm-service/pkg/lease"
	"github.com/helm-service/helm-service/pkg/ledger"
)

// Leases hold a release (namespace/name) against the other replicas on the
// bus while a task works on it. *lease.Manager implements it.
type Leases interface {
	// Acquire waits until the lease of name is held, or ctx ends.
	Acquire(ctx context.Context, name string) (*lease.Lease, error)
}

// RunLog keeps the newest trigger of a kind that ran on a set of releases,
// so that a replica refuses an older one that reaches it after a newer one
// ran elsewhere. *ledger.Ledger implements it.
type RunLog interface {
	LastRun(ctx context.Context, release, kind string) (ledger.Run, bool, error)
	RecordRun(ctx context.Context, release, kind string, run ledger.Run) error
}

// Lanes run tasks one release at a time; see Enter.
type Lanes struct {
	queue  *queue
	leases leaser
	runs   RunLog
	log    *slog.Logger
}

// Option tunes Lanes.
type Option func(*Lanes)

// WithLeases makes a task for a release wait for a task of another replica
// on the same release. Without, tasks for one release run one after the
// other in this process only.
func WithLeases(l Leases) Option {
	return func(ls *Lanes) {
		if l != nil {
			ls.leases = busLeases{l}
		}
	}
}

// WithRunLog makes a superseding task refuse to run when a newer trigger of
// its work already ran, on any replica sharing the log.
func WithRunLog(r RunLog) Option {
	return func(ls *Lanes) {
		if r != nil {
			ls.runs = r
		}
	}
}

// WithLogger logs what cannot be done on the way (a lease not given back,
// a run log out of reach).
func WithLogger(log *slog.Logger) Option {
	return func(ls *Lanes) {
		if log != nil {
			ls.log = log
		}
	}
}

// New returns lanes that run up to parallel tasks at once (at least one).
func New(parallel int, opts ...Option) *Lanes {
	l := &Lanes{
		queue:  newQueue(max(parallel, 1)),
		leases: noLeases{},
		runs:   noRunLog{},
		log:    slog.New(slog.DiscardHandler),
	}
	for _, o := range opts {
		o(l)
	}
	return l
}

// Stop makes every task that has not started yet give up with ErrStopping:
// waiting in a lane, for a lease, or (see Pass.WaitContext) between
// attempts. Running tasks go on.
func (l *Lanes) Stop() { l.queue.stop() }

// Ticket is a task's request to work on releases.
type Ticket struct {
	// Releases are the release keys (namespace/name) the task touches;
	// none runs the task at once on a slot of the pool, outside any lane.
	Releases []string
	// Kind and ID are the task and the trigger, Seq the trigger's place in
	// the stream.
	Kind, ID string
	Seq      uint64
	// Superseding says that of several tickets of one kind on the same
	// releases only the newest is worth running.
	Superseding bool
	// Log, when set, is told what cannot be done for the task on the way
	// (instead of the lanes' logger).
	Log *slog.Logger
}

// Enter waits for the ticket's turn on each of its releases, in this
// process and then (with leases) across replicas, and for a slot of the
// pool. The returned Pass is never nil: its Leave, safe to call in any
// case, lets the next tasks of the releases go. The error is a
// *SupersededError when a newer trigger makes the task pointless (the pass
// then still holds the releases when that was learnt from the run log),
// ErrStopping or ctx's error when the task did not get its turn, or the
// error of a lease.
func (l *Lanes) Enter(ctx context.Context, tk Ticket) (*Pass, error) {
	tk.Releases = SortedKeys(tk.Releases)
	if tk.Log == nil {
		tk.Log = l.log
	}
	p := &Pass{lanes: l, ticket: tk, ctx: ctx, leave: func() {}}
	release, by, err := l.queue.acquire(ctx, tk.Releases, tk.Kind, tk.ID, tk.Seq, tk.Superseding)
	if err != nil {
		return p, err
	}
	if by != nil {
		return p, &SupersededError{By: by.by, Kind: tk.Kind, Releases: tk.Releases, Ran: by.ran}
	}
	// Waits (for another replica's lease, before a retry) end when this
	// process stops taking work; the task itself runs under ctx.
	waitCtx, stopWaits := l.queue.waitContext(ctx)
	p.waitCtx = waitCtx
	p.leave = func() { stopWaits(); release() }
	if len(tk.Releases) > 0 {
		held, err := l.leases.acquire(waitCtx, tk.Releases, tk.Log)
		if err != nil {
			p.Leave()
			return p, err
		}
		if held.exclusive() {
			// Should a lease be lost (NATS out of reach for longer than its
			// TTL), another replica may take the release: the task stops.
			var stopTask context.CancelCauseFunc
			p.ctx, stopTask = context.WithCancelCause(ctx)
			held.stopOnLoss(p.ctx, stopTask)
			p.exclusive = true
			unqueue := p.leave
			p.leave = func() { held.release(tk.Log); stopTask(nil); unqueue() }
		}
	}
	p.holds = &holds{lanes: l, ticket: tk, waitCtx: waitCtx}
	unhold := p.leave
	p.leave = func() { p.holds.release(); unhold() }
	if !tk.Superseding || len(tk.Releases) == 0 {
		return p, nil
	}
	switch last, found, err := l.runs.LastRun(p.ctx, p.runKey(), tk.Kind); {
	case err != nil:
		tk.Log.Warn("cannot tell whether a newer trigger ran on the release; running this one", "releases", tk.Releases, "error", err)
	case found && last.Seq > tk.Seq:
		return p, &SupersededError{By: last.TriggerID, Kind: tk.Kind, Releases: tk.Releases, Ran: true}
	}
	return p, nil
}

// Pass is a task's turn on its releases, until Leave.
type Pass struct {
	lanes     *Lanes
	ticket    Ticket
	ctx       context.Context
	waitCtx   context.Context
	exclusive bool
	holds     *holds
	leave     func()
	left      bool
}

// Context is the context to run the task under: Enter's, cancelled with
// the cause when a lease of the releases is lost.
func (p *Pass) Context() context.Context { return p.ctx }

// WaitContext ends with Enter's context or when the lanes stop taking
// work (its cause is then ErrStopping): for the waits of a task that are
// not work, as the pauses between attempts.
func (p *Pass) WaitContext() context.Context {
	if p.waitCtx == nil {
		return p.ctx
	}
	return p.waitCtx
}

// Exclusive tells whether the task holds the leases of its releases: no
// other replica works on them meanwhile.
func (p *Pass) Exclusive() bool { return p.exclusive }

// Releases are the ticket's release keys, in KeyOrder.
func (p *Pass) Releases() []string { return p.ticket.Releases }

// Hold makes the running task wait for its turn on each release of keys
// (release keys, namespace/name) besides its ticket's, in the release's
// lane in stream order and then for its lease, as every task on the release
// does, and holds them until Leave: service removal learns which releases
// it removes only once it runs. Keys already held are skipped. A task that
// holds releases in several calls makes them in KeyOrder (namespace by
// namespace); a call out of that order first lets go of what the task
// holds and takes it all again. The error is ErrStopping, or ctx's, when
// the lanes stop meanwhile.
func (p *Pass) Hold(ctx context.Context, keys []string) error {
	if p == nil || p.holds == nil {
		return nil // not run in lanes, or did not get its turn: nothing to hold for
	}
	return p.holds.hold(ctx, keys)
}

// Ran records that the ticket's trigger ran, for superseding: a replica
// that gets an older trigger of the same work later refuses it.
func (p *Pass) Ran(ctx context.Context) {
	tk := p.ticket
	if !tk.Superseding || len(tk.Releases) == 0 {
		return
	}
	if err := p.lanes.runs.RecordRun(ctx, p.runKey(), tk.Kind, ledger.Run{TriggerID: tk.ID, Seq: tk.Seq}); err != nil {
		tk.Log.Warn("cannot record the trigger as the last one that ran on the release", "releases", tk.Releases, "error", err)
	}
}

// Leave lets go of the releases; later calls do nothing.
func (p *Pass) Leave() {
	if p.left {
		return
	}
	p.left = true
	p.leave()
}

// runKey is the run log's key of the ticket's set of releases.
func (p *Pass) runKey() string { return strings.Join(p.ticket.Releases, ",") }

// noRunLog is the run log of lanes without one: nothing ran.
type noRunLog struct{}

func (noRunLog) LastRun(context.Context, string, string) (ledger.Run, bool, error) {
	return ledger.Run{}, false, nil
}
func (noRunLog) RecordRun(context.Context, string, string, ledger.Run) error { return nil }

// Waiting is how many tickets wait in the lane of the release key.
func (l *Lanes) Waiting(key string) int {
	q := l.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	if ln := q.lanes[key]; ln != nil {
		return len(ln.waiting)
	}
	return 0
}

// Running tells whether a ticket runs in the lane of the release key (it
// may still wait for a slot of the pool).
func (l *Lanes) Running(key string) bool {
	q := l.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	ln := q.lanes[key]
	return ln != nil && ln.running != nil
}

// Busy is how many releases have a lane: a ticket running or waiting, or
// a superseding run remembered.
func (l *Lanes) Busy() int {
	q := l.queue
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.lanes)
}
