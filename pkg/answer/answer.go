// Package answer answers a delivered trigger once. A redelivery of a
// trigger that was answered gets the recorded answer again, a delivery
// that arrives while its twin is worked on here waits for the twin, a
// trigger started before and cut off gets no second .started, and the
// delivery is settled only once its answer is out. What the answer says
// is the caller's business.
package answer

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/helm-service/helm-service/pkg/ledger"
)

// ErrHandBack, wrapped in the error of Request.Finished, hands the
// delivery back to the bus unanswered, to be delivered again.
var ErrHandBack = errors.New("handed back unanswered")

// The collaborators of an Answerer. A mock of Publisher, for tests that
// need a publish to fail at a chosen moment, is generated into mocks/.
//go:generate go run github.com/golang/mock/mockgen@v1.6.0 -destination=mocks/mocks.go -package=mocks github.com/helm-service/helm-service/pkg/answer Publisher

// Delivery is a message from the bus to settle; eventbus.Delivery
// implements it.
type Delivery interface {
	Ack(ctx context.Context) error
	Nak(delay time.Duration) error
	// InProgress tells the bus the delivery is still being worked on.
	InProgress() error
	// Settled reports whether the delivery needs Ack; only such a
	// delivery gets heartbeats.
	Settled() bool
}

// Publisher sends answers on the bus.
type Publisher interface {
	Publish(ctx context.Context, e cloudevents.Event) error
}

// PublishFunc is a Publisher of one function.
type PublishFunc func(ctx context.Context, e cloudevents.Event) error

// Publish calls f.
func (f PublishFunc) Publish(ctx context.Context, e cloudevents.Event) error { return f(ctx, e) }

// Ledger records answered triggers; *ledger.Ledger implements it.
type Ledger interface {
	// Begin records the trigger as started unless it has an entry, which
	// it returns instead (found true).
	Begin(ctx context.Context, trigger ledger.Key) (entry ledger.Entry, found bool, err error)
	// Forget removes the trigger's entry.
	Forget(ctx context.Context, trigger ledger.Key) error
	// Finished records the trigger's answer.
	Finished(ctx context.Context, trigger ledger.Key, finished cloudevents.Event) error
}

// Options tune an Answerer; the zero value works. The defaults are for
// tests and other embedders (see withDefaults): pkg/config supplies the
// running service's values, through handler.Options.
type Options struct {
	// Ledger, when set, makes redeliveries idempotent: an answered trigger
	// is answered from it. Without, only twins delivered while the first
	// is worked on here are told apart.
	Ledger Ledger
	// Heartbeat is how often a delivery being worked on is reported in
	// progress (default 10s): well under the bus's ack wait. The
	// service's is config.Bus.Heartbeat, a third of NATS_ACK_WAIT.
	Heartbeat time.Duration
	// PublishTimeout bounds the retries of one publish (default 2m). The
	// service's is config.Server.PublishTimeout, SHUTDOWN_GRACE and a
	// minute.
	PublishTimeout time.Duration
}

// Defaults of Options.
const (
	defaultHeartbeat      = 10 * time.Second
	defaultPublishTimeout = 2 * time.Minute
)

// withDefaults returns o with its defaults in place of zero values.
func (o Options) withDefaults() Options {
	if o.Heartbeat <= 0 {
		o.Heartbeat = defaultHeartbeat
	}
	if o.PublishTimeout <= 0 {
		o.PublishTimeout = defaultPublishTimeout
	}
	return o
}

// Answerer answers deliveries once. It is safe for concurrent use.
type Answerer struct {
	pub            Publisher
	ledger         Ledger
	replays        bool // ledger is a real one
	heartbeat      time.Duration
	publishTimeout time.Duration

	mu      sync.Mutex
	running map[ledger.Key]*inflight
}

// New returns an Answerer that publishes with pub.
func New(pub Publisher, opts Options) *Answerer {
	opts = opts.withDefaults()
	a := &Answerer{
		pub:            pub,
		ledger:         opts.Ledger,
		replays:        opts.Ledger != nil,
		heartbeat:      opts.Heartbeat,
		publishTimeout: opts.PublishTimeout,
		running:        map[ledger.Key]*inflight{},
	}
	if !a.replays {
		a.ledger = noLedger{}
	}
	return a
}

// Request is one trigger to answer.
type Request struct {
	// Key is the trigger's ledger key; a trigger without an id is neither
	// recorded nor told apart from its twins.
	Key ledger.Key
	Log *slog.Logger
	// Answers tells whether a recorded answer answers this very trigger:
	// only such an answer is sent again (none when Answers is nil).
	Answers func(recorded cloudevents.Event) bool
	// Started makes the .started of the trigger; nil for a trigger
	// answered by its .finished only.
	Started func(ctx context.Context) (cloudevents.Event, error)
	// Finished does the work and makes the answer. An error wrapping
	// ErrHandBack hands the delivery back unanswered; any other error
	// says no answer can be made: the delivery is acknowledged without.
	Finished func(ctx context.Context) (cloudevents.Event, error)
	// Sent, when set, is called once the answer is out, before the
	// delivery is acknowledged.
	Sent func(ctx context.Context)
}

// Outcome is what became of a delivery.
type Outcome string

// Outcomes of Once.
const (
	// Answered: the answer was published, the delivery acknowledged.
	Answered Outcome = "answered"
	// Replayed: the recorded answer was published again, the delivery
	// acknowledged.
	Replayed Outcome = "replayed"
	// HandedBack: the delivery went back to the bus unanswered, as
	// Finished asked or its twin here was not answered.
	HandedBack Outcome = "handed_back"
	// Unsent: an answer could not be published; the delivery went back to
	// the bus.
	Unsent Outcome = "unsent"
	// Dropped: the delivery was acknowledged without an answer: none
	// could be made, or its twin was answered and there is no ledger to
	// answer from.
	Dropped Outcome = "dropped"
)

// record writes to the ledger for up to settleTimeout, even after ctx is
// cancelled: the ledger must tell how far an answer got.
func record(ctx context.Context, write func(context.Context) error) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), settleTimeout)
	defer cancel()
	return write(ctx)
}

// publish publishes e, retrying for up to PublishTimeout, even after ctx
// is cancelled: an answer that is due is worth the wait.
func (a *Answerer) publish(ctx context.Context, e cloudevents.Event) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), a.publishTimeout)
	defer cancel()
	return a.pub.Publish(ctx, e)
}
