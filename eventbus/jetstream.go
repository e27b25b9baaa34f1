package eventbus

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// setUpJetStream finds or creates the stream over the Keptn subjects (see
// setUpStream). Events published on core NATS land in it too.
func (b *Bus) setUpJetStream(ctx context.Context) error {
	js, err := jetstream.New(b.conn)
	if err != nil {
		return fmt.Errorf("JetStream client: %w", err)
	}
	b.replicas = b.replicasFor(b.opts.Replicas)
	s, err := b.setUpStream(ctx, js, b.replicas)
	if err != nil {
		return err
	}
	b.js, b.stream = js, s
	return nil
}

// consume delivers the messages of a durable consumer named durable that
// filters subjects, creating or updating it.
func (b *Bus) consume(ctx context.Context, subjects []string, durable string, handle HandlerFunc) error {
	if err := checkWorkQueue(ctx, b.js, b.stream, durable, subjects); err != nil {
		return err
	}
	cfg := jetstream.ConsumerConfig{
		Durable:        durable,
		Description:    "helm-service tasks, shared by its replicas",
		FilterSubjects: subjects,
		DeliverPolicy:  jetstream.DeliverAllPolicy,
		AckPolicy:      jetstream.AckExplicitPolicy,
		AckWait:        b.opts.AckWait,
		MaxDeliver:     b.opts.MaxDeliver,
		MaxAckPending:  b.opts.MaxInFlight,
		Metadata:       map[string]string{metaCreatedBy: metaOwner},
	}
	switch existing, err := b.js.Consumer(ctx, b.stream.name, durable); {
	case err == nil:
		// The deliver policy of a consumer cannot change.
		cfg.DeliverPolicy = existing.CachedInfo().Config.DeliverPolicy
	case errors.Is(err, jetstream.ErrConsumerNotFound) && b.stream.foreign:
		// A stream someone else keeps may hold events of long ago
		// (limits retention): start with what arrives from now on.
		cfg.DeliverPolicy = jetstream.DeliverNewPolicy
	}
	cons, err := b.js.CreateOrUpdateConsumer(ctx, b.stream.name, cfg)
	if err != nil {
		return fmt.Errorf("create or update consumer %s on stream %s: %w", durable, b.stream.name, err)
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
		jetstream.PullExpiry(pullExpiry),
		jetstream.ConsumeErrHandler(func(_ jetstream.ConsumeContext, err error) {
			if errors.Is(err, jetstream.ErrConsumerDeleted) || errors.Is(err, jetstream.ErrConsumerNotFound) {
				b.log.Error("JetStream consumer is gone", "consumer", durable, "error", err)
				return
			}
			b.log.Debug("JetStream consume", "consumer", durable, "error", err)
		}),
	)
	if err != nil {
		return fmt.Errorf("consume from %s on stream %s: %w", durable, b.stream.name, err)
	}
	b.mu.Lock()
	b.consumes = append(b.consumes, cc)
	b.mu.Unlock()
	return nil
}

// pullExpiry is how long one pull request of the consumer waits on the
// server. The server sends a heartbeat every half of it, and the client
// pulls anew once two heartbeats are missing, so it is also how long the
// consumer can stay stuck on a pull that a lost server or a moved consumer
// leader will never answer. nats.go's default, 30 s, left triggers
// undelivered for more than 30 s after a server of a cluster was lost; at
// 5 s an idle consumer sends one pull request every 5 s.
const pullExpiry = 5 * time.Second

// KeyValue opens the key-value bucket, creating it when missing; entries
// expire after ttl. It needs JetStream mode.
func (b *Bus) KeyValue(ctx context.Context, bucket string, ttl time.Duration) (jetstream.KeyValue, error) {
	if b.js == nil {
		return nil, errors.New("a key-value bucket needs JetStream (NATS_MODE=jetstream)")
	}
	return b.openBucket(ctx, jetstream.KeyValueConfig{
		Bucket:      bucket,
		Description: "helm-service: finished tasks by trigger id",
		TTL:         ttl,
		Storage:     jetstream.FileStorage,
	})
}

// openBucket creates the key-value bucket with the bus's replicas, or
// updates it, raising its replicas where the cluster allows.
func (b *Bus) openBucket(ctx context.Context, cfg jetstream.KeyValueConfig) (jetstream.KeyValue, error) {
	cfg.Replicas = b.replicas
	if kv, err := b.js.KeyValue(ctx, cfg.Bucket); err == nil {
		if st, ok := bucketStatus(ctx, kv); ok {
			if have := st.StreamInfo().Config.Replicas; have > cfg.Replicas {
				cfg.Replicas = have
			} else if have < cfg.Replicas {
				b.log.Info("raising the replicas of a key-value bucket", "bucket", cfg.Bucket, "from", have, "to", cfg.Replicas)
			}
		}
	}
	kv, err := b.js.CreateOrUpdateKeyValue(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("open key-value bucket %s with %d replicas: %w", cfg.Bucket, cfg.Replicas, err)
	}
	return kv, nil
}

// bucketStatus reads the state of the stream behind a bucket.
func bucketStatus(ctx context.Context, kv jetstream.KeyValue) (*jetstream.KeyValueBucketStatus, bool) {
	st, err := kv.Status(ctx)
	if err != nil {
		return nil, false
	}
	bs, ok := st.(*jetstream.KeyValueBucketStatus)
	return bs, ok
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

// StreamIdentity names the stream the bus consumes from as it is now: its
// name and its creation time, which differ for a stream that was deleted
// and created again under the same name, and so restarted its sequence
// numbers. It needs JetStream mode.
func (b *Bus) StreamIdentity(ctx context.Context) (string, error) {
	if b.js == nil {
		return "", errors.New("a stream identity needs JetStream (NATS_MODE=jetstream)")
	}
	s, err := b.js.Stream(ctx, b.stream.name)
	if err != nil {
		return "", fmt.Errorf("read JetStream stream %s: %w", b.stream.name, err)
	}
	return b.stream.name + " " + s.CachedInfo().Created.UTC().Format(time.RFC3339Nano), nil
}
