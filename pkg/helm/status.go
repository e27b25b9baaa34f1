package helm

import (
	"context"
	"time"

	"helm.sh/helm/v3/pkg/release"
)

// Status is the newest record of a release as Helm stored it: what a
// caller needs to pick the verb for the release.
type Status struct {
	Namespace, Name string
	Revision        int
	// State is Helm's status of the record (deployed, failed,
	// pending-upgrade, ...); empty when the record has none.
	State release.Status
	// Since is when the record's operation began (Helm's last deployed).
	Since time.Time
	// Labels are the labels stored on the record.
	Labels map[string]string
}

// Status reads the newest record of a release, or returns an error wrapping
// ErrNotFound when it has none. Unlike Get it does not read the manifest.
func (c *Client) Status(ctx context.Context, namespace, name string) (*Status, error) {
	_, last, err := c.newest(ctx, namespace, name, "release")
	if err != nil {
		return nil, err
	}
	st := &Status{Namespace: namespace, Name: name, Revision: last.Version, Labels: last.Labels}
	if last.Info != nil {
		st.State, st.Since = last.Info.Status, last.Info.LastDeployed.Time
	}
	return st, nil
}
