package eventbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// setUpJetStream creates the stream over the Keptn subjects, or updates it
// to the configured limits. Events published on core NATS land in it too.
func (b *Bus) setUpJetStream(ctx context.Context) error {
	js, err := jetstream.New(b.conn)
	if err != nil {
		return fmt.Errorf("JetStream client: %w", err)
	}
	cfg := jetstream.StreamConfig{
		Name:        b.opts.Stream,
		Description: "Keptn events, kept until every consumer has acknowledged them",
		Subjects:    b.opts.StreamSubjects,
		// Interest retention keeps a message only while a consumer whose
		// filter matches it has not acknowledged it, so answers nobody
		// consumes from the stream are not stored.
		Retention:  jetstream.InterestPolicy,
		Storage:    jetstream.FileStorage,
		MaxAge:     b.opts.StreamMaxAge,
		Duplicates: 2 * time.Minute,
	}
	if _, err := js.CreateOrUpdateStream(ctx, cfg); err != nil {
		return fmt.Errorf("create or update JetStream stream %s over %v (does the server have JetStream enabled?): %w", cfg.Name, cfg.Subjects, err)
	}
	b.js = js
	return nil
}

// consume delivers the messages of a durable consumer named durable that
// filters subjects, creating or updating it.
func (b *Bus) consume(ctx context.Context, subjects []string, durable string, handle HandlerFunc) error {
	cfg := jetstream.ConsumerConfig{
		Durable:        durable,
		Description:    "helm-service tasks, shared by its replicas",
		FilterSubjects: subjects,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        b.opts.AckWait,
		MaxDeliver:     b.opts.MaxDeliver,
		MaxAckPending:  b.opts.MaxInFlight,
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.opts.Stream, cfg)
	if err != nil {
		return fmt.Errorf("create or update consumer %s on stream %s: %w", durable, b.opts.Stream, err)
	}
	cc, err := cons.Consume(func(m jetstream.Msg) {
		msg := &nats.Msg{Subject: m.Subject(), Data: m.Data(), Header: m.Headers()}
		d := b.decode(ctx, msg)
		d.MaxAttempts = b.opts.MaxDeliver
		d.Attempt = 1
		if md, err := m.Metadata(); err == nil {
			d.Seq = md.Sequence.Stream
			d.Attempt = int(md.NumDelivered)
		}
		d.settle = jsSettler{m}
		b.dispatch(ctx, d, handle)
	},
		jetstream.PullMaxMessages(min(b.opts.MaxInFlight, 100)),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				b.log.Error("JetStream consumer is gone", "consumer", durable, "error", err)
				return
			}
			b.log.Debug("JetStream consume", "consumer", durable, "error", err)
		}),
	)
	if err != nil {
		return fmt.Errorf("consume from %s on stream %s: %w", durable, b.opts.Stream, err)
	}
	b.mu.Lock()
	b.consumes = append(b.consumes, cc)
	b.mu.Unlock()
	return nil
}

// KeyValue opens the key-value bucket, creating it when missing; entries
// expire after ttl. It needs JetStream mode.
func (b *Bus) KeyValue(ctx context.Context, bucket string, ttl time.Duration) (jetstream.KeyValue, error) {
	if b.js == nil {
		return nil, errors.New("a key-value bucket needs JetStream (NATS_MODE=jetstream)")
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "helm-service: finished tasks by trigger id",
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
	})
	if err != nil {
		return nil, fmt.Errorf("open key-value bucket %s: %w", bucket, err)
	}
	return kv, nil
}

// jsSettler settles a JetStream message.
type jsSettler struct{ m jetstream.Msg }

// ack waits until the server confirms, so that a lost ack shows.
func (s jsSettler) ack(ctx context.Context) error { return s.m.DoubleAck(ctx) }

func (s jsSettler) nak(delay time.Duration) error {
	if delay <= 0 {
		return s.m.Nak()
	}
	return s.m.NakWithDelay(delay)
}

func (s jsSettler) inProgress() error { return s.m.InProgress() }
