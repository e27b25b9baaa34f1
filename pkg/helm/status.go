package helm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
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
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := c.newConfig(ctx, namespace)
	if err != nil {
		return nil, err
	}
	last, err := cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, fmt.Errorf("release %s/%s: %w", namespace, name, ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("read history of release %s/%s: %w", namespace, name, err)
	}
	st := &Status{Namespace: namespace, Name: name, Revision: last.Version, Labels: last.Labels}
	if last.Info != nil {
		st.State, st.Since = last.Info.Status, last.Info.LastDeployed.Time
	}
	return st, nil
}
