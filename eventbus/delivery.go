package eventbus

import (
	"context"
	"time"

	"github.com/cloudevents/sdk-go/v2/event"
)

// Delivery is one message received on a subscribed subject. Event is the
// decoded CloudEvent; when the message is not a valid CloudEvent, Event is
// nil, DecodeErr says why and Raw holds the bytes as received.
//
// A delivery from JetStream must be settled: Ack once the task is answered,
// Nak to have it delivered again, InProgress while the task runs. On a
// delivery from core NATS (or one built by hand) these do nothing.
type Delivery struct {
	Subject   string
	Event     *event.Event
	Raw       []byte
	DecodeErr error

	// Seq orders deliveries of one subscription: later messages have
	// higher numbers (the stream sequence under JetStream).
	Seq uint64
	// Attempt counts deliveries of this message, from 1.
	Attempt int
	// MaxAttempts is how many deliveries the server makes at most; 0 means
	// no bound (core NATS).
	MaxAttempts int

	settle settler
}

// settler acknowledges a message to the server.
type settler interface {
	ack(ctx context.Context) error
	nak(delay time.Duration) error
	inProgress() error
}

// Ack tells the server the message is done with; it is not delivered again.
func (d Delivery) Ack(ctx context.Context) error {
	if d.settle == nil {
		return nil
	}
	return d.settle.ack(ctx)
}

// Nak asks the server to deliver the message again after delay, to this
// or another subscriber.
func (d Delivery) Nak(delay time.Duration) error {
	if d.settle == nil {
		return nil
	}
	return d.settle.nak(delay)
}

// InProgress tells the server the message is still being worked on, which
// restarts its acknowledgement timer.
func (d Delivery) InProgress() error {
	if d.settle == nil {
		return nil
	}
	return d.settle.inProgress()
}

// Settled reports whether the delivery needs Ack (it came from JetStream).
func (d Delivery) Settled() bool { return d.settle != nil }

// LastAttempt reports whether the server will not deliver the message
// again after this delivery.
func (d Delivery) LastAttempt() bool { return d.MaxAttempts > 0 && d.Attempt >= d.MaxAttempts }
