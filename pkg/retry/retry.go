// Package retry runs work again after a pause while it fails for a reason
// that passes. Which failures pass, for how long and with which pauses is
// data: a table of Rules the caller builds.
package retry

import (
	"context"
	"fmt"
	"log/slog"
	"time"
)

// Rule is one kind of failure that passes.
type Rule struct {
	// Name names the rule in logs.
	Name string
	// Matches tells whether err is of the rule's kind.
	Matches func(err error) bool
	// Budget is how long, from the first failure of the rule's kind, the
	// work is run again; 0 turns the rule off.
	Budget time.Duration
	// Pause, when set, is the pause before the next attempt after err,
	// given the backoff pause and its ceiling; without, the backoff.
	Pause func(err error, backoff, ceiling time.Duration) time.Duration
	// GiveUp is the error answered once the budget is spent: the work
	// failed for waited, over attempts attempts, the last with err.
	GiveUp func(waited, budget time.Duration, attempts int, err error) error
}

// Policy is the rules and the backoff between attempts.
type Policy struct {
	Rules []Rule
	// Backoff is the first pause (default 1s); it doubles up to 16 times
	// that.
	Backoff time.Duration
	// Log is told of each attempt that is run again.
	Log *slog.Logger
}

// StoppedError is returned when the wait context ended during a pause: the
// work was not run to an answer.
type StoppedError struct {
	// Last is the error of the last attempt.
	Last error
}

func (e *StoppedError) Error() string {
	return fmt.Sprintf("stopped while waiting to run again after: %v", e.Last)
}

func (e *StoppedError) Unwrap() error { return e.Last }

// maxDoublings bounds the backoff: 16 times the first pause.
const maxDoublings = 16

// Run runs work under ctx, and runs it again while it fails with an error a
// rule matches, within the rule's budget. It returns the result and error
// of the last attempt, the rule's GiveUp error once the budget is spent, or
// a *StoppedError when waitCtx ends during a pause. A failure no rule
// matches, and any failure once ctx ended, is returned as it is.
func Run[T any](ctx, waitCtx context.Context, p Policy, work func(context.Context) (T, error)) (T, error) {
	backoff := p.Backoff
	if backoff <= 0 {
		backoff = time.Second
	}
	ceiling := maxDoublings * backoff
	log := p.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	since := make([]time.Time, len(p.Rules))
	pause := backoff
	for attempt := 1; ; attempt++ {
		result, err := work(ctx)
		if err == nil || ctx.Err() != nil {
			return result, err
		}
		i := match(p.Rules, err)
		if i < 0 {
			return result, err
		}
		rule := p.Rules[i]
		now := time.Now()
		if since[i].IsZero() {
			since[i] = now
		}
		if waited := now.Sub(since[i]); waited >= rule.Budget {
			var zero T
			return zero, rule.GiveUp(waited, rule.Budget, attempt, err)
		}
		wait := pause
		if rule.Pause != nil {
			wait = rule.Pause(err, pause, ceiling)
		}
		log.Warn("task failed for a reason that passes; running it again", "error", err, "attempt", attempt, "in", wait.String())
		timer := time.NewTimer(wait)
		select {
		case <-timer.C:
		case <-waitCtx.Done():
			timer.Stop()
			var zero T
			return zero, &StoppedError{Last: err}
		}
		pause = min(2*pause, ceiling)
	}
}

// match is the index of the first rule in force that matches err, or -1.
func match(rules []Rule, err error) int {
	for i, r := range rules {
		if r.Budget > 0 && r.Matches(err) {
			return i
		}
	}
	return -1
}
