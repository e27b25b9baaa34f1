package helm

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrPendingRelease is wrapped by the errors for a release that another
// operation may still be working on: a PendingError or a RefusedError.
var ErrPendingRelease = errors.New("another Helm operation may still be in progress on the release")

// PendingError is the error for a release whose newest record is pending
// and too young to be recovered: another operation may still be working on
// it. It wraps ErrPendingRelease.
type PendingError struct {
	Namespace, Name string
	Status          string
	Revision        int
	// Age is how long ago the pending operation started.
	Age time.Duration
	// RecoverAfter is how much older the record must get before
	// helm-service recovers it (PendingAge - Age).
	RecoverAfter time.Duration
	PendingAge   time.Duration
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("release %s/%s is %s at revision %d since %s ago: %s; helm-service recovers a pending release once it is older than %s (PENDING_RELEASE_AGE)",
		e.Namespace, e.Name, e.Status, e.Revision, e.Age, ErrPendingRelease, e.PendingAge)
}

func (e *PendingError) Unwrap() error { return ErrPendingRelease }

// RefusedError is Helm's refusal to act on a release because its newest
// record is pending: another operation began after helm-service read the
// release's status. Its text is Helm's; it wraps Helm's error and
// ErrPendingRelease.
type RefusedError struct {
	Err error
}

func (e *RefusedError) Error() string { return e.Err.Error() }

func (e *RefusedError) Unwrap() []error { return []error{e.Err, ErrPendingRelease} }

// Pending reports whether err says that a release is pending: helm-service
// left it alone because it is too young to recover (PendingError), or Helm
// refused to touch it (RefusedError).
func Pending(err error) bool {
	return errors.Is(err, ErrPendingRelease)
}

// exclusiveKey marks a context whose task holds its releases against every
// other helm-service (see WithExclusive).
type exclusiveKey struct{}

// WithExclusive marks ctx as that of a task that holds the cross-replica
// leases of the releases it works on: no other helm-service can be working
// on them. A pending record helm-service wrote is then left over from an
// operation that died with its process, and is recovered at once instead
// of after the pending age.
func WithExclusive(ctx context.Context) context.Context {
	return context.WithValue(ctx, exclusiveKey{}, true)
}

// Exclusive reports whether ctx is marked by WithExclusive.
func Exclusive(ctx context.Context) bool {
	on, _ := ctx.Value(exclusiveKey{}).(bool)
	return on
}
