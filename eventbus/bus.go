package eventbus

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	cenats "github.com/cloudevents/sdk-go/protocol/nats/v2"
	"github.com/cloudevents/sdk-go/v2/binding"
	"github.com/cloudevents/sdk-go/v2/event"
	"github.com/nats-io/nats.go"
)

// Delivery is one message received on a subscribed subject. Event is the
// decoded CloudEvent; when the message is not a valid CloudEvent, Event is
// nil, DecodeErr says why and Raw holds the bytes as received.
type Delivery struct {
	Subject   string
	Event     *event.Event
	Raw       []byte
	DecodeErr error
}

// HandlerFunc handles one delivery. It runs on a worker of the bus's pool.
type HandlerFunc func(ctx context.Context, d Delivery)

// Bus is a NATS connection that delivers CloudEvents to a handler on a
// bounded pool of workers and publishes CloudEvents with subject = type.
type Bus struct {
	conn *nats.Conn
	log  *slog.Logger

	workers  chan struct{} // one token per running handler
	inflight sync.WaitGroup

	mu   sync.Mutex
	subs []*nats.Subscription
}

// Connect connects to the NATS server at url. The connection reconnects by
// itself for as long as the bus lives. maxParallel bounds how many handlers
// run at once.
func Connect(url string, maxParallel int, log *slog.Logger) (*Bus, error) {
	conn, err := nats.Connect(url,
		nats.Name("helm-service"),
		nats.MaxReconnects(-1),
		nats.RetryOnFailedConnect(false),
		nats.DisconnectErrHandler(func(c *nats.Conn, err error) {
			if !c.IsClosed() {
				log.Warn("disconnected from NATS; reconnecting", "error", err)
			}
		}),
		nats.ReconnectHandler(func(c *nats.Conn) {
			log.Info("reconnected to NATS", "url", c.ConnectedUrlRedacted())
		}),
	)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s: %w", url, err)
	}
	return &Bus{conn: conn, log: log, workers: make(chan struct{}, maxParallel)}, nil
}

// Connected reports whether the bus is connected to NATS now.
func (b *Bus) Connected() bool { return b.conn.IsConnected() }

// Subscribe delivers every message on each subject to handle, sharing the
// work with other subscribers of the same queue group. Handlers get ctx.
func (b *Bus) Subscribe(ctx context.Context, subjects []string, queue string, handle HandlerFunc) error {
	for _, subject := range subjects {
		sub, err := b.conn.QueueSubscribe(subject, queue, func(msg *nats.Msg) {
			b.dispatch(ctx, msg, handle)
		})
		if err != nil {
			return fmt.Errorf("subscribe to %s: %w", subject, err)
		}
		// Messages wait in the client while every worker is busy; never drop them.
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

// dispatch decodes msg and runs handle on a worker, waiting for a free one.
func (b *Bus) dispatch(ctx context.Context, msg *nats.Msg, handle HandlerFunc) {
	d := Delivery{Subject: msg.Subject, Raw: msg.Data}
	d.Event, d.DecodeErr = binding.ToEvent(ctx, cenats.NewMessage(msg))
	if d.DecodeErr == nil {
		if err := d.Event.Validate(); err != nil {
			d.Event, d.DecodeErr = nil, err
		}
	}
	b.workers <- struct{}{}
	b.inflight.Add(1)
	go func() {
		defer func() {
			<-b.workers
			b.inflight.Done()
		}()
		handle(ctx, d)
	}()
}

// flushTimeout bounds the wait for the server to confirm a publish when the
// caller's context has no deadline.
const flushTimeout = 10 * time.Second

// Publish sends e on the subject named by its type, in structured JSON mode,
// and waits until the server has it.
func (b *Bus) Publish(ctx context.Context, e event.Event) error {
	sender, err := cenats.NewSenderFromConn(b.conn, e.Type())
	if err != nil {
		return fmt.Errorf("prepare sender for %s: %w", e.Type(), err)
	}
	if err := sender.Send(ctx, binding.ToMessage(&e)); err != nil {
		return fmt.Errorf("publish %s %s: %w", e.Type(), e.ID(), err)
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, flushTimeout)
		defer cancel()
	}
	if err := b.conn.FlushWithContext(ctx); err != nil {
		return fmt.Errorf("flush %s %s: %w", e.Type(), e.ID(), err)
	}
	return nil
}

// Drain stops taking new messages and waits until the running handlers
// end or ctx is done, whichever comes first. The connection stays open so
// that handlers can still publish; Close closes it.
func (b *Bus) Drain(ctx context.Context) error {
	b.mu.Lock()
	subs := b.subs
	b.subs = nil
	b.mu.Unlock()
	var errs []error
	for _, s := range subs {
		if err := s.Unsubscribe(); err != nil && !errors.Is(err, nats.ErrConnectionClosed) {
			errs = append(errs, fmt.Errorf("unsubscribe %s: %w", s.Subject, err))
		}
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
