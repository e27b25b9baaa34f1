// Package ledger records which triggers helm-service has answered, keyed on
// the trigger's CloudEvent source, id and type, so that a trigger delivered
// again is answered with the same .finished instead of being worked on
// twice.
package ledger

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go/jetstream"
)

// Store is the part of a JetStream key-value bucket the ledger uses.
type Store interface {
	Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error)
	Put(ctx context.Context, key string, value []byte) (uint64, error)
	Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error)
	Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error
}

// State is how far the task of a trigger got.
type State string

const (
	// StateStarted: .started was sent; the task may have been cut off.
	StateStarted State = "started"
	// StateFinished: .finished was sent; Finished holds it.
	StateFinished State = "finished"
)

// Entry is what the ledger knows about one trigger.
type Entry struct {
	State    State              `json:"state"`
	Finished *cloudevents.Event `json:"finished,omitempty"`
}

// Ledger records task outcomes in a key-value bucket; the bucket's TTL
// expires old entries.
type Ledger struct {
	store  Store
	stream string
}

// Option configures a Ledger.
type Option func(*Ledger)

// InStream ties the ledger's runs to the stream whose sequence numbers
// they record, identified by stream (its name and creation time, see
// eventbus.Bus.StreamIdentity): runs recorded for another stream, one
// deleted and created again or an entry planted in the bucket, are not
// taken as the last run.
func InStream(stream string) Option { return func(l *Ledger) { l.stream = stream } }

// New returns a ledger over store.
func New(store Store, opts ...Option) *Ledger {
	l := &Ledger{store: store}
	for _, opt := range opts {
		opt(l)
	}
	return l
}

// Key identifies a trigger. CloudEvents makes source and id unique
// together, not the id alone, and Keptn reuses one id for events of
// several types (its own example events do), so the type is part of it.
type Key struct {
	Source, ID, Type string
}

// KeyOf is the key of an event.
func KeyOf(e cloudevents.Event) Key {
	return Key{Source: e.Source(), ID: e.ID(), Type: e.Type()}
}

// String names the trigger in messages.
func (k Key) String() string {
	return fmt.Sprintf("%s %s from %s", k.Type, strconv.Quote(k.ID), strconv.Quote(k.Source))
}

// readableType and readableID match types and ids that are valid tokens of
// a bucket key as they are; source, id and type are free text, keys are
// not.
var (
	readableType = regexp.MustCompile(`^[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*$`)
	readableID   = regexp.MustCompile(`^[A-Za-z0-9_-]+$`)
)

// entryKey maps a trigger to a valid bucket key: "trigger.", the type and
// the id where they are valid key tokens (say
// trigger.sh.keptn.event.deployment.triggered.<uuid>.<hash>, readable with
// `nats kv ls`), and the SHA-256 of source, id and type, which alone tells
// triggers apart.
func entryKey(k Key) string {
	h := sha256.New()
	for _, part := range []string{k.Source, k.ID, k.Type} {
		// Length-prefixed, so that no two keys hash the same text.
		fmt.Fprintf(h, "%d:%s;", len(part), part)
	}
	key := "trigger."
	if len(k.Type) <= 100 && readableType.MatchString(k.Type) {
		key += k.Type + "."
	}
	if len(k.ID) <= 64 && readableID.MatchString(k.ID) {
		key += k.ID + "."
	}
	return key + hex.EncodeToString(h.Sum(nil))
}

// Lookup returns the entry of a trigger; found is false when the trigger
// was never seen (or its entry expired).
func (l *Ledger) Lookup(ctx context.Context, trigger Key) (entry Entry, found bool, err error) {
	kve, err := l.store.Get(ctx, entryKey(trigger))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Entry{}, false, nil
	}
	if err != nil {
		return Entry{}, false, fmt.Errorf("look up trigger %s in the ledger: %w", trigger, err)
	}
	if err := json.Unmarshal(kve.Value(), &entry); err != nil {
		return Entry{}, false, fmt.Errorf("ledger entry of trigger %s is unreadable: %w", trigger, err)
	}
	return entry, true, nil
}

// Begin records that the trigger is being started, in one round trip,
// unless the ledger already has an entry for it: then it returns that
// entry and found is true, and records nothing.
func (l *Ledger) Begin(ctx context.Context, trigger Key) (entry Entry, found bool, err error) {
	value, err := json.Marshal(Entry{State: StateStarted})
	if err != nil {
		return Entry{}, false, fmt.Errorf("encode ledger entry of trigger %s: %w", trigger, err)
	}
	_, err = l.store.Create(ctx, entryKey(trigger), value)
	if err == nil {
		return Entry{}, false, nil
	}
	if !errors.Is(err, jetstream.ErrKeyExists) {
		return Entry{}, false, fmt.Errorf("record trigger %s as started in the ledger: %w", trigger, err)
	}
	// Gone again between the two calls (expired or forgotten), found is
	// false: the trigger is handled as new.
	return l.Lookup(ctx, trigger)
}

// Forget removes the trigger's entry, so that its next delivery is handled
// as new (used when .started could not be sent after Begin).
func (l *Ledger) Forget(ctx context.Context, trigger Key) error {
	if err := l.store.Delete(ctx, entryKey(trigger)); err != nil && !errors.Is(err, jetstream.ErrKeyNotFound) {
		return fmt.Errorf("remove trigger %s from the ledger: %w", trigger, err)
	}
	return nil
}

// Finished records the .finished sent for the trigger.
func (l *Ledger) Finished(ctx context.Context, trigger Key, finished cloudevents.Event) error {
	return l.put(ctx, trigger, Entry{State: StateFinished, Finished: &finished})
}

func (l *Ledger) put(ctx context.Context, trigger Key, e Entry) error {
	value, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("encode ledger entry of trigger %s: %w", trigger, err)
	}
	if _, err := l.store.Put(ctx, entryKey(trigger), value); err != nil {
		return fmt.Errorf("record trigger %s as %s in the ledger: %w", trigger, e.State, err)
	}
	return nil
}

// Run is a trigger that ran on a release, in stream order.
type Run struct {
	TriggerID string `json:"triggerId"`
	Seq       uint64 `json:"seq"`
	// Stream is the identity of the stream Seq belongs to, set by
	// RecordRun from the ledger's InStream.
	Stream string `json:"stream,omitempty"`
}

// runKey is the key of the newest run of kind on release.
func runKey(release, kind string) string {
	sum := sha256.Sum256([]byte(kind + "\x00" + release))
	return "run." + hex.EncodeToString(sum[:])
}

// LastRun returns the newest trigger of kind that ran on release (a
// namespace/name), as recorded by RecordRun from any replica. Replicas use
// it to refuse an older trigger that reaches them after a newer one ran
// elsewhere; the caller holds the release's lease.
func (l *Ledger) LastRun(ctx context.Context, release, kind string) (run Run, found bool, err error) {
	kve, err := l.store.Get(ctx, runKey(release, kind))
	if errors.Is(err, jetstream.ErrKeyNotFound) {
		return Run{}, false, nil
	}
	if err != nil {
		return Run{}, false, fmt.Errorf("look up the last %s of release %s in the ledger: %w", kind, release, err)
	}
	if err := json.Unmarshal(kve.Value(), &run); err != nil {
		return Run{}, false, fmt.Errorf("ledger entry of the last %s of release %s is unreadable: %w", kind, release, err)
	}
	if run.Stream != l.stream {
		// Its sequence number counts another stream's messages.
		return Run{}, false, nil
	}
	return run, true, nil
}

// RecordRun records run as the newest trigger of kind that ran on
// release, in the ledger's stream (InStream).
func (l *Ledger) RecordRun(ctx context.Context, release, kind string, run Run) error {
	run.Stream = l.stream
	value, err := json.Marshal(run)
	if err != nil {
		return fmt.Errorf("encode the last %s of release %s: %w", kind, release, err)
	}
	if _, err := l.store.Put(ctx, runKey(release, kind), value); err != nil {
		return fmt.Errorf("record trigger %s as the last %s of release %s in the ledger: %w", run.TriggerID, kind, release, err)
	}
	return nil
}
