// Package reconcile brings Helm releases to what a task asks: it reads the
// status of a release's newest record and picks the verb of package helm
// for it (install, upgrade, recover, rollback), one step at a time, instead
// of leaving Helm's actions to find out and refuse.
package reconcile

import (
	"context"
	"log/slog"
	"time"

	"github.com/helm-service/helm-service/pkg/helm"
)

// DefaultPendingAge is how old a pending release must be before it is
// recovered, unless New is given another age.
const DefaultPendingAge = 10 * time.Minute

// maxSteps bounds the steps of one call: a recovery, then the verb; one
// more should the release change between a read and a verb.
const maxSteps = 3

// Releases installs, upgrades, rolls back, reads and uninstalls Helm
// releases through a helm.Client, recovering a release left pending by an
// operation that never ended first.
type Releases struct {
	client *helm.Client
	log    *slog.Logger
	// pendingAge is how old a pending record must be to be recovered.
	pendingAge time.Duration
	now        func() time.Time
}

// New returns Releases that act through client and recover a pending
// release once its record is older than pendingAge (DefaultPendingAge when
// not positive). log is for what a task's context has no logger for.
func New(client *helm.Client, pendingAge time.Duration, log *slog.Logger) *Releases {
	if pendingAge <= 0 {
		pendingAge = DefaultPendingAge
	}
	return &Releases{client: client, log: log, pendingAge: pendingAge, now: time.Now}
}

// Get returns the newest revision of a release; the error wraps
// helm.ErrNotFound when there is none.
func (r *Releases) Get(ctx context.Context, namespace, name string) (*helm.Record, error) {
	return r.client.Get(ctx, namespace, name)
}

// Find returns the newest revision of the releases carrying labels.
func (r *Releases) Find(ctx context.Context, namespace string, labels map[string]string) ([]*helm.Record, error) {
	return r.client.Find(ctx, namespace, labels)
}

// Uninstall removes a release and its history; the error wraps
// helm.ErrNotFound when there is none. A pending release is removed as
// well: nothing is left to recover.
func (r *Releases) Uninstall(ctx context.Context, namespace, name string, timeout time.Duration) error {
	return r.client.Uninstall(ctx, namespace, name, timeout)
}
