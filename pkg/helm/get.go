package helm

import (
	"context"
	"errors"
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// ErrNotFound is returned for a release that has no history.
var ErrNotFound = errors.New("release not found")

// Record is the newest revision of a release as Helm stored it.
type Record struct {
	Result
	// Chart and Values are what the revision was rendered from: Values are
	// the values given to Helm, on top of the chart's own.
	Chart  *chart.Chart
	Values map[string]any
	// Labels are the labels stored on the release record.
	Labels map[string]string
}

// Get returns the newest revision of a release, or an error wrapping
// ErrNotFound when it has none.
func (c *Client) Get(ctx context.Context, namespace, name string) (*Record, error) {
	_, rel, err := c.newest(ctx, namespace, name, "release")
	if err != nil {
		return nil, err
	}
	return recordOf(rel)
}

// newest opens the release storage of namespace and reads the newest
// record of a release. The error wraps ErrNotFound, after what (the
// operation, e.g. "roll back release") and the release, when it has none.
func (c *Client) newest(ctx context.Context, namespace, name, what string) (*action.Configuration, *release.Release, error) {
	if err := ctx.Err(); err != nil {
		return nil, nil, err
	}
	cfg, err := c.newConfig(ctx, namespace)
	if err != nil {
		return nil, nil, err
	}
	last, err := cfg.Releases.Last(name)
	if errors.Is(err, driver.ErrReleaseNotFound) {
		return nil, nil, fmt.Errorf("%s %s/%s: %w", what, namespace, name, ErrNotFound)
	}
	if err != nil {
		return nil, nil, fmt.Errorf("read history of release %s/%s: %w", namespace, name, err)
	}
	return cfg, last, nil
}

// Find returns the newest revision of every release in namespace (every
// namespace for AllNamespaces) whose record carries all the given labels,
// in no particular order. Releases of the same name in different
// namespaces are each returned.
func (c *Client) Find(ctx context.Context, namespace string, labels map[string]string) ([]*Record, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	cfg, err := c.newConfig(ctx, namespace)
	if err != nil {
		return nil, err
	}
	all, err := cfg.Releases.List(func(rel *release.Release) bool {
		for k, v := range labels {
			if rel.Labels[k] != v {
				return false
			}
		}
		return true
	})
	if err != nil {
		where := "namespace " + namespace
		if namespace == AllNamespaces {
			where = "every namespace"
		}
		return nil, fmt.Errorf("list releases in %s: %w", where, err)
	}
	// A release is its namespace and name: the same name in two
	// namespaces (a service in two stages) is two releases.
	type key struct{ namespace, name string }
	newest := map[key]*release.Release{}
	for _, rel := range all {
		k := key{rel.Namespace, rel.Name}
		if n, ok := newest[k]; !ok || rel.Version > n.Version {
			newest[k] = rel
		}
	}
	out := make([]*Record, 0, len(newest))
	for _, rel := range newest {
		r, err := recordOf(rel)
		if err != nil {
			return nil, err
		}
		out = append(out, r)
	}
	return out, nil
}

func recordOf(rel *release.Release) (*Record, error) {
	res, err := resultOf(rel)
	if err != nil {
		return nil, err
	}
	return &Record{Result: *res, Chart: rel.Chart, Values: rel.Config, Labels: rel.Labels}, nil
}
