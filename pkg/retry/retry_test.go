package retry

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

var (
	errDown    = errors.New("connection refused")
	errPending = errors.New("release is pending")
	errBroken  = errors.New("chart is broken")
)

// rules are two rules as handler builds them: one with the backoff, one
// with a pause of its own.
func rules(downBudget, pendingBudget time.Duration) []Rule {
	giveUp := func(name string) func(time.Duration, time.Duration, int, error) error {
		return func(_, budget time.Duration, attempts int, err error) error {
			return fmt.Errorf("%s for longer than %s; gave up after %d attempts: %w", name, budget, attempts, err)
		}
	}
	return []Rule{
		{Name: "down", Matches: func(err error) bool { return errors.Is(err, errDown) }, Budget: downBudget, GiveUp: giveUp("down")},
		{
			Name: "pending", Matches: func(err error) bool { return errors.Is(err, errPending) }, Budget: pendingBudget,
			Pause:  func(error, time.Duration, time.Duration) time.Duration { return time.Millisecond },
			GiveUp: giveUp("pending"),
		},
	}
}

// script is work that fails with errs in turn, then succeeds.
type script struct {
	errs     []error
	attempts int
}

func (s *script) work(context.Context) (string, error) {
	s.attempts++
	if s.attempts <= len(s.errs) {
		return "", s.errs[s.attempts-1]
	}
	return "done", nil
}

func TestRunRetriesWhatPassesWithinItsBudget(t *testing.T) {
	type outcome struct {
		Result   string
		Err      string
		Attempts int
	}
	for _, tc := range []struct {
		name  string
		rules []Rule
		errs  []error
		want  outcome
	}{
		{name: "success at once", rules: rules(time.Minute, time.Minute), want: outcome{Result: "done", Attempts: 1}},
		{name: "a failure no rule matches is answered at once", rules: rules(time.Minute, time.Minute), errs: []error{errBroken}, want: outcome{Err: "chart is broken", Attempts: 1}},
		{name: "passing failures are run again", rules: rules(time.Minute, time.Minute), errs: []error{errDown, errPending, errDown}, want: outcome{Result: "done", Attempts: 4}},
		{name: "a rule with no budget is off", rules: rules(0, time.Minute), errs: []error{errDown}, want: outcome{Err: "connection refused", Attempts: 1}},
		{name: "a matching failure after a passing one is answered", rules: rules(time.Minute, time.Minute), errs: []error{errPending, errBroken}, want: outcome{Err: "chart is broken", Attempts: 2}},
		{
			name: "the budget spent, the rule gives up", rules: rules(time.Minute, 5*time.Millisecond),
			errs: []error{errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending, errPending},
			want: outcome{Err: "pending for longer than 5ms; gave up after ATTEMPTS attempts: release is pending"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			s := &script{errs: tc.errs}
			result, err := Run(context.Background(), context.Background(), Policy{Rules: tc.rules, Backoff: time.Millisecond}, s.work)
			got := outcome{Result: result, Attempts: s.attempts}
			if err != nil {
				got.Err = err.Error()
			}
			if tc.want.Attempts == 0 { // gave up: the count depends on the clock
				tc.want.Attempts = s.attempts
				tc.want.Err = fmt.Sprintf("pending for longer than 5ms; gave up after %d attempts: release is pending", s.attempts)
				if s.attempts < 2 || s.attempts > len(tc.errs) {
					t.Errorf("gave up after %d attempts, want between 2 and %d", s.attempts, len(tc.errs))
				}
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("outcome (-want +got):\n%s", diff)
			}
		})
	}
}

func TestRunGiveUpErrorWrapsTheLastFailure(t *testing.T) {
	s := &script{errs: []error{errDown, errDown, errDown, errDown, errDown, errDown, errDown, errDown, errDown, errDown}}
	_, err := Run(context.Background(), context.Background(), Policy{Rules: rules(3*time.Millisecond, 0), Backoff: time.Millisecond}, s.work)
	if !errors.Is(err, errDown) {
		t.Errorf("error %v does not wrap the last failure", err)
	}
}

// TestRunStopsWhenTheWaitEnds: a wait context ending during a pause stops
// the loop with a *StoppedError carrying the last failure; work is not run
// again.
func TestRunStopsWhenTheWaitEnds(t *testing.T) {
	waitCtx, stop := context.WithCancel(context.Background())
	s := &script{errs: []error{errDown, errDown}}
	work := func(ctx context.Context) (string, error) {
		stop()
		return s.work(ctx)
	}
	_, err := Run(context.Background(), waitCtx, Policy{Rules: rules(time.Minute, 0), Backoff: time.Hour}, work)
	var stopped *StoppedError
	if !errors.As(err, &stopped) || !errors.Is(err, errDown) {
		t.Fatalf("err = %v, want a *StoppedError wrapping the last failure", err)
	}
	if s.attempts != 1 {
		t.Errorf("%d attempts, want 1", s.attempts)
	}
}

// TestRunDoesNotRetryOnceCtxEnded: a failure after the work's context ended
// is the work's answer, whatever it is.
func TestRunDoesNotRetryOnceCtxEnded(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s := &script{errs: []error{errDown}}
	_, err := Run(ctx, context.Background(), Policy{Rules: rules(time.Minute, 0), Backoff: time.Millisecond}, s.work)
	if diff := cmp.Diff(errDown.Error(), err.Error()); diff != "" || s.attempts != 1 {
		t.Errorf("attempts %d, error (-want +got):\n%s", s.attempts, diff)
	}
}

// TestPausesDoubleUpToTheCeiling: the backoff doubles from the first pause
// up to 16 times it; a rule's own pause gets the backoff and the ceiling.
func TestPausesDoubleUpToTheCeiling(t *testing.T) {
	var got []time.Duration
	rule := Rule{
		Name: "down", Matches: func(err error) bool { return errors.Is(err, errDown) }, Budget: time.Minute,
		Pause: func(_ error, backoff, ceiling time.Duration) time.Duration {
			got = append(got, backoff, ceiling)
			return 0
		},
	}
	errs := make([]error, 7)
	for i := range errs {
		errs[i] = errDown
	}
	s := &script{errs: errs}
	if _, err := Run(context.Background(), context.Background(), Policy{Rules: []Rule{rule}, Backoff: time.Second}, s.work); err != nil {
		t.Fatal(err)
	}
	c := 16 * time.Second
	want := []time.Duration{time.Second, c, 2 * time.Second, c, 4 * time.Second, c, 8 * time.Second, c, c, c, c, c, c, c}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("pauses (-want +got):\n%s", diff)
	}
}
