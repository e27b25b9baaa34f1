package eventbus

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"sync"
	"sync/atomic"
	"time"

	cenats "github.com/cloudevents/sdk-go/protocol/nats/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"

	"github.com/helm-service/helm-service/pkg/tasklog"
)

// Mode is how events are received.
type Mode string

const (
	// ModeJetStream receives through a durable JetStream consumer: at
	// least once, acknowledged after the task is answered.
	ModeJetStream Mode = "jetstream"
	// ModeCore receives on a core NATS queue subscription: at most once.
	ModeCore Mode = "core"
)

// Options configure a Bus.
type Options struct {
	URL  string
	Mode Mode
	// Name identifies the connection to the server.
	Name string
	// Auth holds the credentials for the server, if it needs any.
	Auth Auth
	// MaxInFlight bounds the deliveries handed to handlers and not yet
	// returned; under JetStream it is also the consumer's MaxAckPending.
	MaxInFlight int
	// MaxEventBytes refuses larger messages with a decode error; 0 means
	// no limit beyond the server's.
	MaxEventBytes int

	// Stream is the JetStream stream over StreamSubjects that Connect
	// creates, or updates when helm-service created it, unless a stream
	// that stores StreamSubjects is already there: then that one is
	// consumed from and left as it is. It keeps messages for StreamMaxAge
	// at most.
	Stream         string
	StreamSubjects []string
	StreamMaxAge   time.Duration
	// StreamMaxBytes bounds the stream helm-service creates (default 1
	// GiB); once full it refuses new messages rather than drop old ones.
	StreamMaxBytes int64
	// Replicas is how many copies of the stream and the key-value buckets
	// JetStream keeps; 0 means 3 on a NATS cluster of at least three
	// servers, else 1.
	Replicas int
	// AckWait is how long the server waits for an ack or an in-progress
	// signal before it delivers a message again.
	AckWait time.Duration
	// MaxDeliver bounds the deliveries of one message.
	MaxDeliver int

	Log *slog.Logger
	// Observer, when set, is told about received events and the
	// connection's state (for metrics).
	Observer Observer
}

// Observer is told what happens on the bus. Its methods must be quick and
// safe for concurrent use.
type Observer interface {
	// EventReceived is called for every delivery handed to a handler;
	// redelivered is true when the server delivered it before.
	EventReceived(eventType string, redelivered bool)
	// NATSConnected is called when the connection goes up or down.
	NATSConnected(up bool)
}

type noObserver struct{}

func (noObserver) EventReceived(string, bool) {}
func (noObserver) NATSConnected(bool)         {}

func (o *Options) defaults() {
	if o.Mode == "" {
		o.Mode = ModeJetStream
	}
	if o.Name == "" {
		o.Name = "helm-service"
	}
	if o.MaxInFlight <= 0 {
		o.MaxInFlight = 1000
	}
	if o.Stream == "" {
		o.Stream = "KEPTN"
	}
	if len(o.StreamSubjects) == 0 {
		o.StreamSubjects = []string{"sh.keptn.event.>"}
	}
	if o.StreamMaxAge <= 0 {
		o.StreamMaxAge = 24 * time.Hour
	}
	if o.StreamMaxBytes <= 0 {
		o.StreamMaxBytes = 1 << 30
	}
	if o.AckWait <= 0 {
		o.AckWait = 30 * time.Second
	}
	if o.MaxDeliver <= 0 {
		o.MaxDeliver = 5
	}
	if o.Log == nil {
		o.Log = slog.New(slog.DiscardHandler)
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
}

// HandlerFunc handles one delivery. Each delivery runs on its own
// goroutine; at most Options.MaxInFlight run at once.
type HandlerFunc func(ctx context.Context, d Delivery)

// Bus is a NATS connection that delivers CloudEvents to handlers and
// publishes CloudEvents with subject = type.
type Bus struct {
	opts Options
	conn *nats.Conn
	js   jetstream.JetStream // nil in core mode
	// stream is the stream consumed from, and replicas the copies of what
	// helm-service creates (JetStream mode).
	stream   *stream
	replicas int
	log      *slog.Logger

	slots    chan struct{} // one token per running handler
	inflight sync.WaitGroup
	seq      atomic.Uint64 // orders core deliveries

	mu       sync.Mutex
	subs     []*nats.Subscription
	consumes []jetstream.ConsumeContext
}

// Connect connects to the NATS server. The connection reconnects by itself
// for as long as the bus lives. In JetStream mode it creates or updates the
// stream.
func Connect(ctx context.Context, opts Options) (*Bus, error) {
	opts.defaults()
	log, observer := opts.Log, opts.Observer
	natsOpts := []nats.Option{
		nats.Name(opts.Name),
		nats.MaxReconnects(-1),
		nats.ReconnectWait(250 * time.Millisecond),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			observer.NATSConnected(false)
			if !c.IsClosed() {
				log.Warn("disconnected from NATS; reconnecting", "error", err)
			}
		}),
		nats.ClosedHandler(func(*nats.Conn) { observer.NATSConnected(false) }),
		nats.ReconnectHandler(func(c *nats.Conn) {
			observer.NATSConnected(true)
			log.Info("reconnected to NATS", "url", c.ConnectedUrlRedacted())
		}),
	}
	auth, err := opts.Auth.natsOptions()
	if err != nil {
		return nil, err
	}
	conn, err := nats.Connect(opts.URL, append(natsOpts, auth...)...)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", opts.URL, opts.Auth.explain(err))
	}
	observer.NATSConnected(true)
	b := &Bus{opts: opts, conn: conn, log: log, slots: make(chan struct{}, opts.MaxInFlight)}
	switch opts.Mode {
	case ModeCore:
	case ModeJetStream:
		if err := b.setUpJetStream(ctx); err != nil {
			conn.Close()
			return nil, err
		}
	default:
		conn.Close()
		return nil, fmt.Errorf("unknown NATS mode %q: use jetstream or core", opts.Mode)
	}
	return b, nil
}

// Connected reports whether the bus is connected to NATS now.
func (b *Bus) Connected() bool { return b.conn.IsConnected() }

// Mode is the bus's delivery mode.
func (b *Bus) Mode() Mode { return b.opts.Mode }

// HeaderAllowance is the part of the server's max_payload that Publish
// keeps for the headers it adds (JetStream's message id).
const HeaderAllowance = 256

// ErrEventTooLarge is the error of a publish larger than the NATS server
// takes: retrying cannot help.
var ErrEventTooLarge = errors.New("event too large for the NATS server")

// MaxEventBytes is the largest event, encoded, that Publish can send: the
// server's max_payload less HeaderAllowance.
func (b *Bus) MaxEventBytes() int {
	return int(min(b.conn.MaxPayload(), math.MaxInt32)) - HeaderAllowance
}

// Subscribe delivers every message on each subject to handle, sharing the
// work with other subscribers of the same queue group (in JetStream mode:
// of the same durable consumer, named queue). Handlers get ctx.
func (b *Bus) Subscribe(ctx context.Context, subjects []string, queue string, handle HandlerFunc) error {
	if b.js != nil {
		return b.consume(ctx, subjects, queue, handle)
	}
	for _, subject := range subjects {
		sub, err := b.conn.QueueSubscribe(subject, queue, func(msg *nats.Msg) {
			d := b.decode(ctx, msg)
			d.Seq = b.seq.Add(1)
			d.Attempt = 1
			b.dispatch(ctx, d, handle)
		})
		if err != nil {
			return fmt.Errorf("subscribe to %s: %w", subject, err)
		}
		// Messages wait in the client while every slot is busy; never drop them.
		if err := sub.SetPendingLimits(-1, -1); err != nil {
			return fmt.Errorf("set pending limits on %s: %w", subject, err)
		}
		b.mu.Lock()
		b.subs = append(b.subs, sub)
		b.mu.Unlock()
	}
	if err := b.conn.Flush(); err != nil {
		return fmt.Errorf("confirm subscriptions with NATS: %w", err)
	}
	return nil
}

// decode turns a message into a delivery, refusing oversized and invalid
// events with the reason.
func (b *Bus) decode(ctx context.Context, msg *nats.Msg) Delivery {
	d := Delivery{Subject: msg.Subject, Raw: msg.Data}
	if limit := b.opts.MaxEventBytes; limit > 0 && len(msg.Data) > limit {
		d.DecodeErr = fmt.Errorf("event is %d bytes, more than the %d bytes allowed (MAX_EVENT_BYTES)", len(msg.Data), limit)
		return d
	}
	d.Event, d.DecodeErr = Decode(ctx, msg)
	return d
}

// Decode reads a NATS message as a CloudEvent (structured or binary mode)
// and validates it.
func Decode(ctx context.Context, msg *nats.Msg) (*event.Event, error) {
	e, err := binding.ToEvent(ctx, cenats.NewMessage(msg))
	if err != nil {
		return nil, err
	}
	if err := e.Validate(); err != nil {
		return nil, err
	}
	return e, nil
}

// dispatch runs handle on its own goroutine once a slot is free.
func (b *Bus) dispatch(ctx context.Context, d Delivery, handle HandlerFunc) {
	b.opts.Observer.EventReceived(d.Subject, d.Attempt > 1)
	b.slots <- struct{}{}
	b.inflight.Add(1)
	go func() {
		defer func() {
			<-b.slots
			b.inflight.Done()
		}()
		handle(ctx, d)
	}()
}

// publishAttemptTimeout bounds one attempt to publish.
const publishAttemptTimeout = 5 * time.Second

// defaultPublishTimeout bounds Publish when ctx has no deadline.
const defaultPublishTimeout = 30 * time.Second

// Publish sends e on the subject named by its type, in structured JSON
// mode, and waits until the server has it (in JetStream mode: until the
// stream stored it). While the server is unreachable it retries with
// backoff until ctx is done.
func (b *Bus) Publish(ctx context.Context, e event.Event) error {
	return b.PublishOn(ctx, e.Type(), e)
}

// PublishOn is Publish on another subject than e's type. A subject outside
// the stream's is published on core NATS and waits for the server only.
func (b *Bus) PublishOn(ctx context.Context, subject string, e event.Event) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode %s %s: %w", e.Type(), e.ID(), err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultPublishTimeout)
		defer cancel()
	}
	log := tasklog.From(ctx, b.log)
	backoff := 100 * time.Millisecond
	for attempt := 1; ; attempt++ {
		err = b.publishOnce(ctx, subject, e.ID(), body)
		if err == nil {
			if attempt > 1 {
				log.Info("published after retrying", "type", e.Type(), "id", e.ID(), "attempts", attempt)
			}
			return nil
		}
		if errors.Is(err, nats.ErrMaxPayload) {
			return fmt.Errorf("publish %s %s: %w: %d bytes and its headers, more than the server's max_payload of %d: %w",
				e.Type(), e.ID(), ErrEventTooLarge, len(body), b.conn.MaxPayload(), err)
		}
		log.Warn("publish failed; retrying", "type", e.Type(), "id", e.ID(), "attempt", attempt, "retryIn", backoff.String(), "error", err)
		select {
		case <-ctx.Done():
			return fmt.Errorf("publish %s %s: gave up after %d attempts: %w", e.Type(), e.ID(), attempt, err)
		case <-time.After(backoff):
		}
		backoff = min(2*backoff, 3*time.Second)
	}
}

func (b *Bus) publishOnce(ctx context.Context, subject, id string, body []byte) error {
	ctx, cancel := context.WithTimeout(ctx, publishAttemptTimeout)
	defer cancel()
	if b.js != nil && covers(b.stream.subjects, subject) {
		// The message id lets the stream drop the copy a retry may send.
		_, err := b.js.Publish(ctx, subject, body, jetstream.WithMsgID(id))
		return err
	}
	if err := b.conn.Publish(subject, body); err != nil {
		return err
	}
	return b.conn.FlushWithContext(ctx)
}

// Drain stops taking new messages and waits until the running handlers
// end or ctx is done, whichever comes first. The connection stays open so
// that handlers can still publish and settle; Close closes it.
func (b *Bus) Drain(ctx context.Context) error {
	b.mu.Lock()
	subs, consumes := b.subs, b.consumes
	b.subs, b.consumes = nil, nil
	b.mu.Unlock()
	var errs []error
	for _, s := range subs {
		if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, fmt.Errorf("unsubscribe %s: %w", s.Subject, err))
		}
	}
	for _, c := range consumes {
		c.Stop()
	}
	done := make(chan struct{})
	go func() {
		b.inflight.Wait()
		close(done)
	}()
	select {
	case <-done:
	case <-ctx.Done():
		errs = append(errs, fmt.Errorf("tasks still running: %w", ctx.Err()))
	}
	return errors.Join(errs...)
}

// Close flushes what was published and closes the connection.
func (b *Bus) Close() {
	_ = b.conn.FlushTimeout(2 * time.Second)
	b.conn.Close()
}
