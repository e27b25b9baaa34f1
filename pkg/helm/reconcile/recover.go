package reconcile

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/tasklog"
)

// recover recovers an abandoned release and says what it did. The error
// wraps helm.ErrNotPending or helm.ErrNotFound, unprefixed, when the record
// changed since it was observed.
func (r *Releases) recover(ctx context.Context, obs observation, timeout time.Duration) (string, *helm.Recovery, error) {
	if err := ctx.Err(); err != nil {
		return "", nil, err
	}
	st := obs.status
	what := fmt.Sprintf("release %s/%s was left %s at revision %d by an operation that did not end (%s ago)", st.Namespace, st.Name, st.State, st.Revision, obs.age)
	if obs.leased && obs.age < r.pendingAge {
		what = fmt.Sprintf("release %s/%s was left %s at revision %d by a helm-service that stopped mid-operation (%s ago; its lease on the release had expired, so none was still working on it)", st.Namespace, st.Name, st.State, st.Revision, obs.age)
	}
	tasklog.From(ctx, r.log).Warn("recovering a pending release", "namespace", st.Namespace, "release", st.Name, "status", st.State, "revision", st.Revision, "age", obs.age.String(), "leased", obs.leased)
	rec, err := r.client.Recover(ctx, st.Namespace, st.Name, timeout)
	if changed(err) {
		return "", nil, err
	}
	if err != nil {
		return "", nil, fmt.Errorf("%s; %w", what, err)
	}
	if rec.RolledBackTo == 0 {
		return what + "; it had never been deployed, so helm-service uninstalled it", rec, nil
	}
	return fmt.Sprintf("%s; helm-service marked it failed and rolled back to revision %d", what, rec.RolledBackTo), rec, nil
}

// changed reports whether a recovery found the record no longer as it was
// observed: observe it again.
func changed(err error) bool {
	return errors.Is(err, helm.ErrNotPending) || errors.Is(err, helm.ErrNotFound)
}
