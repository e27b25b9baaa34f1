package config

import (
	"fmt"
	"runtime"
	"time"
)

// Delivery is how triggers are taken in and answered once: how many run
// and wait, the ledger of answered triggers and the release leases
// replicas share.
type Delivery struct {
	// MaxParallelTasks bounds how many tasks run at once; 0 (unset) is
	// sized for the machine by Load (DefaultParallelTasks).
	MaxParallelTasks int `envconfig:"MAX_PARALLEL_TASKS" default:"0"`
	// MaxQueuedTasks bounds the triggers received and not yet answered;
	// 0 (unset) is DefaultQueuedTasks of MaxParallelTasks.
	MaxQueuedTasks int `envconfig:"MAX_QUEUED_TASKS" default:"0"`
	// LedgerBucket is the JetStream key-value bucket of answered triggers.
	LedgerBucket string `envconfig:"LEDGER_BUCKET" default:"helm-service-tasks"`
	// LedgerTTL is how long an answered trigger is remembered.
	LedgerTTL time.Duration `envconfig:"LEDGER_TTL" default:"72h"`
	// LockBucket is the JetStream key-value bucket of release leases, which
	// keep replicas from working on one release at once.
	LockBucket string `envconfig:"LOCK_BUCKET" default:"helm-service-locks"`
	// LockTTL is how long a replica's lease on a release outlives the
	// replica; a held lease is renewed every LockTTL/3.
	LockTTL time.Duration `envconfig:"LOCK_TTL" default:"30s"`
}

// DefaultParallelTasks is MAX_PARALLEL_TASKS when unset. A task spends
// about 25 ms of CPU in helm-service and the rest of its time waiting on
// the API server, so what bounds it is the cluster, not the CPUs here: on
// a 2-core machine that also ran the cluster, 25 tasks at once deployed
// 200 releases a third faster than 10, and 50 no faster than 25 (see
// docs/performance.md). A machine with more CPUs than that runs more.
func DefaultParallelTasks() int { return max(25, 2*runtime.NumCPU()) }

// DefaultQueuedTasks is MAX_QUEUED_TASKS when unset: four triggers taken in
// for every task that can run. A trigger taken in waits in memory for its
// turn, with its event, its goroutines and the heartbeat that keeps its
// delivery alive (about 25 KiB in all), while one left on the stream waits
// for free; taking in more than the workers can start soon gains nothing.
// At 1000, the old default, 1000 triggers published at once raised the
// service's peak memory by about 25 MiB (see docs/performance.md).
func DefaultQueuedTasks(parallel int) int { return 4 * parallel }

// LeaseRenewal is how often a held release lease is renewed, and so how
// long one renewal may be tried again: a third of LockTTL.
func (d Delivery) LeaseRenewal() time.Duration { return d.LockTTL / 3 }

func (d Delivery) validate() error {
	if d.MaxParallelTasks < 1 {
		return fmt.Errorf("MAX_PARALLEL_TASKS must be at least 1, got %d", d.MaxParallelTasks)
	}
	if d.MaxQueuedTasks < d.MaxParallelTasks {
		return fmt.Errorf("MAX_QUEUED_TASKS (%d) must be at least MAX_PARALLEL_TASKS (%d)", d.MaxQueuedTasks, d.MaxParallelTasks)
	}
	if d.LedgerTTL <= 0 {
		return fmt.Errorf("LEDGER_TTL must be positive, got %s", d.LedgerTTL)
	}
	if d.LockTTL < time.Second {
		return fmt.Errorf("LOCK_TTL must be at least 1s, got %s", d.LockTTL)
	}
	return nil
}

// Retry is how long tasks that fail for a passing reason run again, and
// when a release left pending is recovered.
type Retry struct {
	// PendingReleaseAge is how old a release stuck in pending-install,
	// pending-upgrade or pending-rollback must be before helm-service
	// recovers it. Keep it above WAIT_TIMEOUT so that an operation still
	// running elsewhere is never taken over.
	PendingReleaseAge time.Duration `envconfig:"PENDING_RELEASE_AGE" default:"10m"`
	// PendingRetryTimeout is how long a task that finds its release pending
	// runs again (once the record is old enough to recover, or sooner)
	// before it is answered errored. Keep it above PENDING_RELEASE_AGE.
	PendingRetryTimeout time.Duration `envconfig:"PENDING_RETRY_TIMEOUT" default:"15m"`
	// ClusterRetryTimeout is how long a task that fails because the
	// Kubernetes API server is unreachable runs again, with backoff, before
	// it is answered errored.
	ClusterRetryTimeout time.Duration `envconfig:"CLUSTER_RETRY_TIMEOUT" default:"3m"`
}

// Backoff is the first pause before a task that failed as the retry
// rules allow runs again; it doubles up to 16 times that. It is not a
// setting.
func (r Retry) Backoff() time.Duration { return time.Second }

func (r Retry) validate() error {
	if r.PendingReleaseAge <= 0 {
		return fmt.Errorf("PENDING_RELEASE_AGE must be positive, got %s", r.PendingReleaseAge)
	}
	if r.PendingRetryTimeout < 0 {
		return fmt.Errorf("PENDING_RETRY_TIMEOUT must not be negative, got %s", r.PendingRetryTimeout)
	}
	if r.ClusterRetryTimeout < 0 {
		return fmt.Errorf("CLUSTER_RETRY_TIMEOUT must not be negative, got %s", r.ClusterRetryTimeout)
	}
	return nil
}
