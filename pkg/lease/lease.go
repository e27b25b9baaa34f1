// Package lease holds a named lease in a JetStream key-value bucket, so
// that replicas of helm-service sharing one NATS server never work on one
// release at once. A lease is an entry created with Create (which fails
// while another holder has it), renewed with a revision-checked Update while
// its holder works, and deleted with a revision-checked Delete. The bucket's
// TTL expires the entry of a holder that died without deleting it.
package lease

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"regexp"
	"sync"
	"time"

	"github.com/nats-io/nats.go/jetstream"
)

// Store is the part of a JetStream key-value bucket leases use.
type Store interface {
	Get(ctx context.Context, key string) (jetstream.KeyValueEntry, error)
	Create(ctx context.Context, key string, value []byte, opts ...jetstream.KVCreateOpt) (uint64, error)
	Update(ctx context.Context, key string, value []byte, revision uint64) (uint64, error)
	Delete(ctx context.Context, key string, opts ...jetstream.KVDeleteOpt) error
}

// ErrHeld is wrapped by TryAcquire's error when another holder has the lease.
var ErrHeld = errors.New("lease is held by another holder")

// ErrLost is wrapped by Release's error when the lease expired and was
// taken (or deleted) by someone else before it was released.
var ErrLost = errors.New("lease was lost")

// Record is the value of a lease entry.
type Record struct {
	Holder   string    `json:"holder"`
	Name     string    `json:"name"`
	Acquired time.Time `json:"acquired"`
}

// Manager acquires leases for one holder in one bucket.
type Manager struct {
	store  Store
	holder string
	ttl    time.Duration
	log    *slog.Logger
	// Renew is how often a held lease is renewed; ttl/3 unless set.
	renew time.Duration
	// poll is the first wait between attempts while the lease is held
	// elsewhere; it doubles up to maxPoll.
	poll, maxPoll time.Duration
}

// New returns a Manager that holds leases in store as holder. ttl must be
// the bucket's TTL: a lease not renewed for that long expires.
func New(store Store, holder string, ttl time.Duration, log *slog.Logger) *Manager {
	return &Manager{
		store:   store,
		holder:  holder,
		ttl:     ttl,
		log:     log,
		renew:   ttl / 3,
		poll:    100 * time.Millisecond,
		maxPoll: min(2*time.Second, max(ttl/4, 100*time.Millisecond)),
	}
}

// Holder names this process: host name, process id and a random suffix, so
// that two processes never share a name.
func Holder() string {
	host, _ := os.Hostname()
	var b [4]byte
	_, _ = rand.Read(b[:])
	return fmt.Sprintf("%s-%d-%s", host, os.Getpid(), hex.EncodeToString(b[:]))
}

// Lease is a held lease. It is renewed until Release.
type Lease struct {
	m    *Manager
	name string
	key  string

	mu  sync.Mutex
	rev uint64

	stop     chan struct{}
	renewed  chan struct{} // closed when the renewing goroutine ends
	lost     chan struct{}
	lostOnce sync.Once
}

// Name is the name the lease was acquired for.
func (l *Lease) Name() string { return l.name }

// Lost is closed when renewing found the lease taken or deleted by someone
// else (it expired while this holder could not reach NATS).
func (l *Lease) Lost() <-chan struct{} { return l.lost }

// Acquire waits until it holds the lease of name, or ctx ends. While
// another holder has it, it tries again with a growing pause, logging who
// holds it.
func (m *Manager) Acquire(ctx context.Context, name string) (*Lease, error) {
	wait := m.poll
	logged := false
	for {
		l, err := m.TryAcquire(ctx, name)
		if err == nil {
			return l, nil
		}
		if !errors.Is(err, ErrHeld) {
			// NATS unreachable for a moment, say: keep trying until ctx ends.
			m.log.Warn("cannot take lease; trying again", "lease", name, "error", err)
		} else if !logged {
			m.log.Info("waiting for another replica to finish with the release", "lease", name, "error", err)
			logged = true
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, fmt.Errorf("wait for lease %s: %w", name, context.Cause(ctx))
		case <-t.C:
		}
		wait = min(2*wait, m.maxPoll)
	}
}

// TryAcquire takes the lease of name if nobody holds it; the error wraps
// ErrHeld, naming the holder, if somebody does.
func (m *Manager) TryAcquire(ctx context.Context, name string) (*Lease, error) {
	key := Key(name)
	value, err := json.Marshal(Record{Holder: m.holder, Name: name, Acquired: time.Now().UTC()})
	if err != nil {
		return nil, fmt.Errorf("encode lease %s: %w", name, err)
	}
	rev, err := m.store.Create(ctx, key, value)
	if errors.Is(err, jetstream.ErrKeyExists) {
		holder := "unknown"
		if e, gerr := m.store.Get(ctx, key); gerr == nil {
			if bytes.Equal(e.Value(), value) {
				// This very create landed, but its answer was lost (a
				// leader election, say) and the try again found it.
				rev, err = e.Revision(), nil
			}
			var r Record
			if json.Unmarshal(e.Value(), &r) == nil {
				holder = r.Holder
			}
		}
		if err != nil {
			return nil, fmt.Errorf("lease %s: %w (%s)", name, ErrHeld, holder)
		}
	}
	if err != nil {
		return nil, fmt.Errorf("take lease %s: %w", name, err)
	}
	l := &Lease{m: m, name: name, key: key, rev: rev, stop: make(chan struct{}), renewed: make(chan struct{}), lost: make(chan struct{})}
	go l.renewLoop(value)
	return l, nil
}

// renewLoop updates the entry every renew interval, checked against the
// revision it last wrote, until Release or until the lease is lost.
func (l *Lease) renewLoop(value []byte) {
	defer close(l.renewed)
	tick := time.NewTicker(l.m.renew)
	defer tick.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), l.m.renew)
		l.mu.Lock()
		rev, err := l.m.store.Update(ctx, l.key, value, l.rev)
		if err == nil {
			l.rev = rev
		}
		l.mu.Unlock()
		cancel()
		switch {
		case err == nil:
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch) && l.ownWrite(value):
			// The renewal landed but its answer was lost, and the try
			// again met it: the lease is still this holder's.
		case errors.Is(err, jetstream.ErrKeyRevisionMismatch), errors.Is(err, jetstream.ErrKeyNotFound), errors.Is(err, jetstream.ErrKeyDeleted):
			l.m.log.Error("lease lost: it expired and someone else has it now", "lease", l.name, "error", err)
			l.lostOnce.Do(func() { close(l.lost) })
			return
		default:
			// Most likely NATS is unreachable: the entry lives on until
			// its TTL, so try again at the next tick.
			l.m.log.Warn("cannot renew lease; trying again", "lease", l.name, "error", err)
		}
	}
}

// ownWrite reports whether the lease's entry is still the value this
// holder writes, at a newer revision than the one it knows, and takes that
// revision.
func (l *Lease) ownWrite(value []byte) bool {
	ctx, cancel := context.WithTimeout(context.Background(), l.m.renew)
	defer cancel()
	e, err := l.m.store.Get(ctx, l.key)
	if err != nil || !bytes.Equal(e.Value(), value) {
		return false
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if e.Revision() <= l.rev {
		return false
	}
	l.rev = e.Revision()
	return true
}

// Release stops renewing and deletes the entry, provided it is still the
// revision this holder wrote. A lease that was lost is not deleted (it
// belongs to someone else now) and Release returns an error wrapping
// ErrLost. Release is safe to call more than once.
func (l *Lease) Release(ctx context.Context) error {
	select {
	case <-l.stop:
		return nil
	default:
		close(l.stop)
	}
	<-l.renewed
	select {
	case <-l.lost:
		return fmt.Errorf("release lease %s: %w", l.name, ErrLost)
	default:
	}
	l.mu.Lock()
	rev := l.rev
	l.mu.Unlock()
	err := l.m.store.Delete(ctx, l.key, jetstream.LastRevision(rev))
	if errors.Is(err, jetstream.ErrKeyRevisionMismatch) || errors.Is(err, jetstream.ErrKeyExists) {
		return fmt.Errorf("release lease %s: %w: %w", l.name, ErrLost, err)
	}
	if err != nil {
		return fmt.Errorf("release lease %s (it expires by itself after %s): %w", l.name, l.m.ttl, err)
	}
	return nil
}

// readableKey matches names that are already valid keys made of dot
// separated tokens once "/" becomes ".".
var readableKey = regexp.MustCompile(`^[a-z0-9]([-a-z0-9]*[a-z0-9])?(\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*$`)

// Key is the bucket key of the lease of name: "release.<namespace>.<name>"
// for a namespace/name made of DNS labels (readable with `nats kv ls`), a
// hash of the name for anything else, since key-value keys allow only
// letters, digits, "-", "_", "=" and "." between tokens.
func Key(name string) string {
	readable := make([]byte, len(name))
	for i := range len(name) {
		c := name[i]
		if c == '/' {
			c = '.'
		}
		readable[i] = c
	}
	if len(name) <= 200 && readableKey.Match(readable) {
		return "release." + string(readable)
	}
	sum := sha256.Sum256([]byte(name))
	return "hash." + hex.EncodeToString(sum[:])
}
