package handler

import (
	"context"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/lease"
	"github.com/helm-service/helm-service/pkg/ledger"
)

// Ledger records answered triggers so that a redelivered trigger is not
// worked on twice. A trigger is its source, id and type (ledger.KeyOf).
// *ledger.Ledger implements it.
type Ledger interface {
	// Begin records the trigger as started unless it has an entry, which
	// it returns instead (found true).
	Begin(ctx context.Context, trigger ledger.Key) (entry ledger.Entry, found bool, err error)
	// Forget removes the trigger's entry.
	Forget(ctx context.Context, trigger ledger.Key) error
	Finished(ctx context.Context, trigger ledger.Key, finished cloudevents.Event) error
	// LastRun and RecordRun keep the newest trigger of a kind that ran on
	// a release, so that a replica refuses an older one that reaches it
	// after a newer one ran elsewhere.
	LastRun(ctx context.Context, release, kind string) (ledger.Run, bool, error)
	RecordRun(ctx context.Context, release, kind string, run ledger.Run) error
}

// Leases hold a release (namespace/name) against the other replicas on the
// bus while a task works on it. *lease.Manager implements it.
type Leases interface {
	// Acquire waits until the lease of name is held, or ctx ends.
	Acquire(ctx context.Context, name string) (*lease.Lease, error)
}

// Options tune the dispatcher; the zero value works. The defaults are
// for tests and other embedders (see withDefaults): pkg/config supplies
// every value of the running service, and cmd/helm-service sets each one.
type Options struct {
	// MaxParallel bounds the tasks running at once (default 4; the
	// service's is MAX_PARALLEL_TASKS, config.Delivery).
	MaxParallel int
	// Ledger, when set, makes redeliveries idempotent.
	Ledger Ledger
	// Heartbeat is how often a running or queued task tells the bus it is
	// still in progress: well under the bus's ack wait. Zero is
	// answer.Options' default (10s); the service's is config.Bus.Heartbeat,
	// a third of NATS_ACK_WAIT.
	Heartbeat time.Duration
	// PublishTimeout bounds the retries of one publish of an answer. Zero
	// is answer.Options' default (2m); the service's is
	// config.Server.PublishTimeout, SHUTDOWN_GRACE and a minute.
	PublishTimeout time.Duration
	// AllowNamespace says why a namespace may not be deployed to, or nil.
	AllowNamespace func(namespace string) error
	// Leases, when set, make tasks for one release wait for a task of
	// another replica on the same release. Without, tasks for one release
	// run one after the other in this process only.
	Leases Leases
	// ClusterRetryTimeout is how long a task that fails because the
	// Kubernetes API server is unreachable is run again, with backoff,
	// before it is answered errored; 0 answers at once.
	ClusterRetryTimeout time.Duration
	// PendingRetryTimeout is how long a task that finds its release
	// pending (another operation may still be working on it) is run again
	// before it is answered errored; 0 answers at once.
	PendingRetryTimeout time.Duration
	// RetryBackoff is the first pause before a task is run again; it
	// doubles up to 16 times that. Zero is retry.Policy's default (1s); the
	// service's is config.Retry.Backoff.
	RetryBackoff time.Duration
	// CDEvents, when set, publishes a CDEvent for each change a task made
	// to a service (see cdevents.go).
	CDEvents *CDEventsOptions
	// TracerProvider traces each task (see tracing.go); nil traces
	// nothing. The service's is tracing.NewProvider's.
	TracerProvider trace.TracerProvider
	// NamespaceTemplate computes the namespace of a trigger's service for
	// the allow-list and the release queue; nil means <project>-<stage>.
	// The tasks must use the same template.
	NamespaceTemplate *kube.NamespaceTemplate
	// Observer, when set, is told about tasks (for metrics); the
	// service's is its metrics registry.
	Observer Observer
	// Ownership, when set, refuses a task whose namespace or releases are
	// not its trigger's project's, stage's and service's (see Ownership);
	// the service sets it whenever it has a cluster.
	Ownership *Ownership
	// MaxEventBytes is the largest event the bus takes (default: NATS's
	// default max_payload, 1 MiB, less eventbus.HeaderAllowance); the
	// service's is the smaller of MAX_EVENT_BYTES and the bus's
	// MaxEventBytes. An answer that would be larger is made to fit (see
	// fit).
	MaxEventBytes int
}

// defaultMaxParallel is MaxParallel's default.
const defaultMaxParallel = 4

// defaultMaxEventBytes is MaxEventBytes' default: what a bus on a NATS
// server of default settings takes (eventbus.Bus.MaxEventBytes).
const defaultMaxEventBytes = 1<<20 - eventbus.HeaderAllowance

// withDefaults returns o with its defaults in place of zero values. The
// dispatcher takes its options through it; the defaults of Heartbeat,
// PublishTimeout and RetryBackoff are those of the packages that use them
// (answer.Options, retry.Policy), which get the zero value.
func (o Options) withDefaults() Options {
	if o.MaxParallel <= 0 {
		o.MaxParallel = defaultMaxParallel
	}
	if o.MaxEventBytes <= 0 {
		o.MaxEventBytes = defaultMaxEventBytes
	}
	if o.TracerProvider == nil {
		o.TracerProvider = noop.NewTracerProvider()
	}
	if o.Observer == nil {
		o.Observer = noObserver{}
	}
	return o
}
