package handler

import (
	"context"

	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/lanes"
)

// holdReleases makes the task wait for its turn on each release of keys
// (release keys, namespace/name) and holds them until the trigger is
// settled, as lanes.Pass.Hold says: service removal learns which releases
// it removes only once it runs. Outside a dispatcher it does nothing. The
// error is lanes.ErrStopping, or ctx's, when helm-service stops meanwhile.
func (t Trigger) holdReleases(ctx context.Context, keys []string) error {
	return t.pass.Hold(ctx, keys)
}

// releaseKeysIn are the release keys of the records in a namespace.
func releaseKeysIn(records []*helm.Record, namespace string) []string {
	var keys []string
	for _, r := range records {
		if r.Namespace == namespace {
			keys = append(keys, r.Namespace+"/"+r.Name)
		}
	}
	return lanes.SortedKeys(keys)
}
