package answer

import (
	"context"
	"errors"
	"log/slog"

	"github.com/helm-service/helm-service/pkg/ledger"
)

// Once answers the delivery of r's trigger once and settles it. It returns
// once the delivery is settled.
func (a *Answerer) Once(ctx context.Context, del Delivery, r Request) Outcome {
	log := r.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	stopBeat := a.beat(del, log)
	defer stopBeat()

	own, outcome := a.takeTurn(ctx, del, r.Key, log)
	if own == nil {
		return outcome
	}
	at := &attempt{Answerer: a, del: del, r: r, log: log, book: a.ledgerOf(r.Key), own: own}
	defer at.leave()
	seen, outcome := at.lookUp(ctx)
	if outcome != "" {
		return outcome
	}
	if r.Started != nil && !seen {
		if outcome := at.start(ctx); outcome != "" {
			return outcome
		}
	}
	return at.finish(ctx)
}

// takeTurn claims the trigger for this delivery. The server delivers a
// trigger again when it lost track of it (after a NATS restart, say) while
// this process still works on it: that delivery waits for the first and
// is settled like it; once the first is answered, this one is answered
// from the ledger. own is nil when the delivery was settled meanwhile.
func (a *Answerer) takeTurn(ctx context.Context, del Delivery, key ledger.Key, log *slog.Logger) (own *inflight, settled Outcome) {
	own, prev := a.claim(key)
	for prev != nil {
		log.Info("trigger delivered again while it is being handled here; waiting for the first delivery")
		select {
		case <-prev.done:
		case <-ctx.Done():
		}
		if !prev.answered.Load() {
			nak(del, log)
			return nil, HandedBack
		}
		if !a.replays {
			Ack(ctx, del, log) // nothing to answer from
			return nil, Dropped
		}
		own, prev = a.claim(key)
	}
	return own, ""
}

// attempt is one delivery of a trigger, claimed.
type attempt struct {
	*Answerer
	del  Delivery
	r    Request
	log  *slog.Logger
	book Ledger
	own  *inflight
	left bool // own is unclaimed
}

// lookUp records the start of the trigger in the ledger, in one round
// trip that also tells whether it was seen before: a trigger answered
// before gets the same answer again (outcome set), one started before
// (seen) gets no second .started.
func (at *attempt) lookUp(ctx context.Context) (seen bool, settled Outcome) {
	entry, found, err := at.book.Begin(ctx, at.r.Key)
	recorded := found && entry.State == ledger.StateFinished && entry.Finished != nil
	switch {
	case err != nil:
		at.log.Warn("cannot tell whether the trigger was answered before; handling it", "error", err)
	case recorded && (at.r.Answers == nil || !at.r.Answers(*entry.Finished)):
		at.log.Warn("the ledger's answer for this trigger is not an answer to it; handling the trigger as new",
			"answerType", entry.Finished.Type(), "answerID", entry.Finished.ID())
	case recorded:
		at.log.Info("trigger was answered before; sending the same .finished again")
		if err := at.publish(ctx, *entry.Finished); err != nil {
			at.log.Error("cannot publish reply", "type", entry.Finished.Type(), "error", err)
			return true, at.handBack(Unsent)
		}
		return true, at.answered(ctx, Replayed)
	case found:
		at.log.Info("trigger was started before and cut off; running it again")
		return true, ""
	}
	return false, ""
}

// start sends .started. When it cannot, the start is forgotten, so that
// the next delivery is handled as new and sends it.
func (at *attempt) start(ctx context.Context) (settled Outcome) {
	started, err := at.r.Started(ctx)
	if err == nil {
		err = at.publish(ctx, started)
	}
	if err == nil {
		return ""
	}
	at.log.Error("cannot publish reply", "type", "started", "error", err)
	if err := record(ctx, func(ctx context.Context) error { return at.book.Forget(ctx, at.r.Key) }); err != nil {
		at.log.Warn("cannot undo the record of the start", "error", err)
	}
	return at.handBack(Unsent)
}

// finish does the work, records its answer, then sends it.
func (at *attempt) finish(ctx context.Context) (settled Outcome) {
	reply, err := at.r.Finished(ctx)
	switch {
	case errors.Is(err, ErrHandBack):
		return at.handBack(HandedBack)
	case err != nil:
		at.log.Error("cannot build reply", "type", "finished", "error", err)
		return at.answered(ctx, Dropped)
	}
	// Recorded before it is sent: a redelivery after a crash in between
	// sends this answer instead of doing the work again. Like the answer,
	// the record is due even once ctx has ended.
	if err := record(ctx, func(ctx context.Context) error { return at.book.Finished(ctx, at.r.Key, reply) }); err != nil {
		at.log.Warn("cannot record the answer; a redelivery would run the task again", "error", err)
	}
	if err := at.publish(ctx, reply); err != nil {
		at.log.Error("cannot publish reply", "type", "finished", "error", err)
		return at.handBack(Unsent)
	}
	if at.r.Sent != nil {
		at.r.Sent(ctx)
	}
	return at.answered(ctx, Answered)
}

// answered marks the trigger answered for its twins and acknowledges the
// delivery.
func (at *attempt) answered(ctx context.Context, o Outcome) Outcome {
	at.own.answered.Store(true)
	Ack(ctx, at.del, at.log)
	return o
}

// handBack hands the delivery back to the bus. The trigger is unclaimed
// first: its next delivery, which may come at once, is not taken for a
// twin of this one.
func (at *attempt) handBack(o Outcome) Outcome {
	at.leave()
	nak(at.del, at.log)
	return o
}

// leave unclaims the trigger, once.
func (at *attempt) leave() {
	if !at.left {
		at.left = true
		at.unclaim(at.r.Key, at.own)
	}
}
