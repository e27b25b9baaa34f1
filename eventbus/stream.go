package eventbus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Metadata that marks the stream and buckets helm-service created, and so
// may change. A stream without it belongs to someone else (Keptn's
// shipyard-controller keeps one named keptn over sh.keptn.>) and is never
// changed.
const (
	metaCreatedBy = "created-by"
	metaOwner     = "helm-service"
	// ownStreamDescription is what earlier versions wrote on the stream
	// they created, before the metadata existed.
	ownStreamDescription = "Keptn events, kept until every consumer has acknowledged them"
)

// stream is the JetStream stream the bus consumes from: its own, or one
// that was there before and already stores the trigger subjects.
type stream struct {
	name     string
	subjects []string
	// foreign is true for a stream helm-service did not create: its
	// configuration is left as it is, and a new consumer starts with the
	// messages that arrive from then on, not with the stream's history.
	foreign   bool
	retention jetstream.RetentionPolicy
}

// findStream returns the streams whose subjects overlap subjects.
func findStream(ctx context.Context, js jetstream.JetStream, subjects []string) ([]*jetstream.StreamInfo, error) {
	seen := map[string]bool{}
	var out []*jetstream.StreamInfo
	for _, subject := range subjects {
		list := js.ListStreams(ctx, jetstream.WithStreamListSubject(subject))
		for info := range list.Info() {
			if !seen[info.Config.Name] {
				seen[info.Config.Name] = true
				out = append(out, info)
			}
		}
		if err := list.Err(); err != nil {
			return nil, fmt.Errorf("list the JetStream streams over %s (does the server have JetStream enabled?): %w", subject, err)
		}
	}
	return out, nil
}

// ownedStream reports whether helm-service created the stream.
func ownedStream(cfg jetstream.StreamConfig) bool {
	return cfg.Metadata[metaCreatedBy] == metaOwner || cfg.Description == ownStreamDescription
}

// covers reports whether a stream over streamSubjects stores every message
// published on a subject matching filter.
func covers(streamSubjects []string, filter string) bool {
	for _, s := range streamSubjects {
		if subjectCovers(s, filter) {
			return true
		}
	}
	return false
}

// subjectCovers reports whether every subject that matches pattern also
// matches wide (both may hold the wildcards * and >).
func subjectCovers(wide, pattern string) bool {
	w, p := strings.Split(wide, "."), strings.Split(pattern, ".")
	for i, tok := range w {
		switch {
		case tok == ">":
			return len(p) > i
		case i >= len(p):
			return false
		case p[i] == ">":
			return false
		case tok == "*":
		case tok != p[i]:
			return false
		}
	}
	return len(w) == len(p)
}

// setUpStream picks the stream to consume from. A stream that already
// stores every trigger subject is used as it is; one of helm-service's own
// is brought to the configured limits; without either, helm-service
// creates its own. It fails, naming the stream and the fix, when a stream
// overlaps the trigger subjects without storing all of them: JetStream
// allows no second stream over them.
func (b *Bus) setUpStream(ctx context.Context, js jetstream.JetStream, replicas int) (*stream, error) {
	found, err := findStream(ctx, js, b.opts.StreamSubjects)
	if err != nil {
		return nil, err
	}
	if len(found) > 0 {
		info := found[0]
		cfg := info.Config
		missing := []string{}
		for _, s := range b.opts.StreamSubjects {
			if !covers(cfg.Subjects, s) {
				missing = append(missing, s)
			}
		}
		if len(missing) > 0 {
			return nil, fmt.Errorf("JetStream stream %s over %v overlaps helm-service's subjects %v but does not store %v, and JetStream allows no second stream over them: add %v to the subjects of stream %s, or delete it if nothing else uses it",
				cfg.Name, cfg.Subjects, b.opts.StreamSubjects, missing, missing, cfg.Name)
		}
		if ownedStream(cfg) {
			return b.updateOwnStream(ctx, js, info, replicas)
		}
		if cfg.Replicas < replicas {
			b.log.Warn("the JetStream stream helm-service consumes from has fewer replicas than the NATS cluster allows; the server that holds it is a single point of failure for its events; raise them with: nats stream edit "+cfg.Name+" --replicas "+fmt.Sprint(replicas),
				"stream", cfg.Name, "replicas", cfg.Replicas, "wanted", replicas)
		}
		b.log.Info("consuming from an existing JetStream stream; its configuration is left as it is",
			"stream", cfg.Name, "subjects", cfg.Subjects, "retention", cfg.Retention.String(), "replicas", cfg.Replicas)
		return &stream{name: cfg.Name, subjects: cfg.Subjects, foreign: true, retention: cfg.Retention}, nil
	}
	cfg := b.ownStreamConfig(replicas)
	if _, err := js.CreateStream(ctx, cfg); err != nil {
		return nil, fmt.Errorf("create JetStream stream %s over %v with %d replicas (does the server have JetStream enabled?): %w", cfg.Name, cfg.Subjects, cfg.Replicas, err)
	}
	b.log.Info("created JetStream stream", "stream", cfg.Name, "subjects", cfg.Subjects, "replicas", cfg.Replicas)
	return &stream{name: cfg.Name, subjects: cfg.Subjects, retention: cfg.Retention}, nil
}

// ownStreamConfig is the stream helm-service creates.
func (b *Bus) ownStreamConfig(replicas int) jetstream.StreamConfig {
	return jetstream.StreamConfig{
		Name:        b.opts.Stream,
		Description: "Keptn events, kept until every consumer has acknowledged them (created by helm-service)",
		Subjects:    b.opts.StreamSubjects,
		// Interest retention keeps a message only while a consumer whose
		// filter matches it has not acknowledged it, so answers nobody
		// consumes from the stream are not stored.
		Retention: jetstream.InterestPolicy,
		Storage:   jetstream.FileStorage,
		MaxAge:    b.opts.StreamMaxAge,
		MaxBytes:  b.opts.StreamMaxBytes,
		// Full, the stream refuses what comes: a publisher through
		// JetStream learns it, and nothing stored is dropped.
		Discard: jetstream.DiscardNew,
		// No message the server takes is too large to store: one over
		// MAX_EVENT_BYTES is still delivered, and answered errored.
		MaxMsgSize: int32(min(b.conn.MaxPayload(), math.MaxInt32)),
		Duplicates: 2 * time.Minute,
		Replicas:   replicas,
		Metadata:   map[string]string{metaCreatedBy: metaOwner},
	}
}

// updateOwnStream brings a stream helm-service created to the configured
// limits, raising its replicas where the cluster allows.
func (b *Bus) updateOwnStream(ctx context.Context, js jetstream.JetStream, info *jetstream.StreamInfo, replicas int) (*stream, error) {
	cfg := b.ownStreamConfig(max(replicas, info.Config.Replicas))
	cfg.Name = info.Config.Name
	cfg.Subjects = info.Config.Subjects
	if info.Config.Retention != cfg.Retention {
		// JetStream cannot change a stream's retention.
		cfg.Retention = info.Config.Retention
	}
	if _, err := js.UpdateStream(ctx, cfg); err != nil {
		if cfg.Replicas == info.Config.Replicas {
			return nil, fmt.Errorf("update JetStream stream %s: %w", cfg.Name, err)
		}
		b.log.Warn("cannot raise the replicas of helm-service's stream; it stays as it is",
			"stream", cfg.Name, "replicas", info.Config.Replicas, "wanted", cfg.Replicas, "error", err)
		cfg.Replicas = info.Config.Replicas
		if _, err := js.UpdateStream(ctx, cfg); err != nil {
			return nil, fmt.Errorf("update JetStream stream %s: %w", cfg.Name, err)
		}
	} else if cfg.Replicas > info.Config.Replicas {
		b.log.Info("raised the replicas of helm-service's stream", "stream", cfg.Name, "from", info.Config.Replicas, "to", cfg.Replicas)
	}
	return &stream{name: cfg.Name, subjects: cfg.Subjects, retention: cfg.Retention}, nil
}

// checkWorkQueue fails when the work-queue stream already has a consumer
// whose filter overlaps subjects: such a stream hands each message to one
// consumer only, and JetStream refuses a second one over the same
// subjects.
func checkWorkQueue(ctx context.Context, js jetstream.JetStream, s *stream, durable string, subjects []string) error {
	if s.retention != jetstream.WorkQueuePolicy {
		return nil
	}
	st, err := js.Stream(ctx, s.name)
	if err != nil {
		return fmt.Errorf("read JetStream stream %s: %w", s.name, err)
	}
	list := st.ListConsumers(ctx)
	var errs []error
	for info := range list.Info() {
		if info.Name == durable {
			continue
		}
		filters := info.Config.FilterSubjects
		if info.Config.FilterSubject != "" {
			filters = append(filters, info.Config.FilterSubject)
		}
		if len(filters) == 0 {
			filters = []string{">"}
		}
		for _, f := range filters {
			for _, mine := range subjects {
				if subjectCovers(f, mine) || subjectCovers(mine, f) {
					errs = append(errs, fmt.Errorf("JetStream stream %s has work-queue retention and its consumer %s already takes %s, which helm-service needs (%s): a work-queue stream hands each message to one consumer only; give stream %s interest or limits retention, or narrow consumer %s's filter",
						s.name, info.Name, f, mine, s.name, info.Name))
				}
			}
		}
	}
	if err := list.Err(); err != nil {
		return fmt.Errorf("list the consumers of JetStream stream %s: %w", s.name, err)
	}
	return errors.Join(errs...)
}

// replicasFor chooses how many copies of its stream and buckets helm-service
// keeps: want when set, else 3 on a NATS cluster of at least three servers
// and 1 otherwise.
func (b *Bus) replicasFor(want int) int {
	if want > 0 {
		return want
	}
	if b.conn.ConnectedClusterName() != "" && len(b.conn.Servers()) >= 3 {
		return 3
	}
	return 1
}
