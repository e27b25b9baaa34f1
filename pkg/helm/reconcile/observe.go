package reconcile

import (
	"context"
	"errors"
	"time"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// state is what the newest record of a release calls for.
type state int

const (
	// absent: the release has no record; it is installed.
	absent state = iota
	// settled: the record is deployed, failed, superseded...; Helm acts on
	// it.
	settled
	// abandoned: the record is pending, and the operation that left it so
	// has ended; it is recovered first.
	abandoned
	// busy: the record is pending, and its operation may still be
	// running; the release is left alone (helm.PendingError).
	busy
)

func (s state) String() string {
	return [...]string{"absent", "settled", "abandoned", "busy"}[s]
}

// observation is the state of a release and what it was judged from.
type observation struct {
	state state
	// status is the newest record; nil when absent.
	status *helm.Status
	// age is how long ago a pending record's operation began.
	age time.Duration
	// leased says that the task holds the release against every other
	// helm-service and that helm-service wrote the pending record: its
	// operation died with its process.
	leased bool
}

// observe reads the newest record of a release and judges it.
func (r *Releases) observe(ctx context.Context, namespace, name string) (observation, error) {
	st, err := r.client.Status(ctx, namespace, name)
	if errors.Is(err, helm.ErrNotFound) {
		return observation{state: absent}, nil
	}
	if err != nil {
		return observation{}, err
	}
	return r.judge(ctx, st), nil
}

// judge says what a record calls for. A pending record is recovered once
// it is older than the pending age; at once when the task holds the
// release's lease and helm-service wrote it. Younger ones, and those of
// other tools, may belong to an operation still running.
func (r *Releases) judge(ctx context.Context, st *helm.Status) observation {
	obs := observation{state: settled, status: st}
	if !st.State.IsPending() {
		return obs
	}
	obs.age = r.now().Sub(st.Since).Round(time.Second)
	obs.leased = helm.Exclusive(ctx) && writtenByHelmService(st.Labels)
	switch {
	case obs.age >= r.pendingAge, obs.leased:
		obs.state = abandoned
	default:
		obs.state = busy
	}
	return obs
}

// writtenByHelmService reports whether a release record carries the labels
// helm-service puts on every record it writes. Another tool's operation
// (the helm CLI, a controller) takes no lease of helm-service's, so its
// pending records always get the pending age.
func writtenByHelmService(labels map[string]string) bool {
	for _, k := range []string{kube.LabelProject, kube.LabelStage, kube.LabelService} {
		if labels[k] == "" {
			return false
		}
	}
	return true
}

// pendingError is the error for a busy release.
func (r *Releases) pendingError(obs observation) *helm.PendingError {
	st := obs.status
	return &helm.PendingError{
		Namespace: st.Namespace, Name: st.Name, Status: string(st.State), Revision: st.Revision,
		Age: obs.age, RecoverAfter: r.pendingAge - obs.age, PendingAge: r.pendingAge,
	}
}
