// Package charts finds the Helm chart of a service and prepares the values it
// is rendered with.
package charts

import (
	"context"
	"errors"

	"helm.sh/helm/v3/pkg/chart"
)

// Ref names the service whose chart is wanted, and optionally pins which
// chart it is.
type Ref struct {
	Project string
	Stage   string
	Service string

	// Chart is an explicit chart repository (oci://host/path[:tag|@digest])
	// that overrides where the source would look for the service's chart.
	Chart string
	// Version pins the chart version for sources that have versions: an
	// OCI tag or digest (sha256:…). Empty means the newest.
	Version string
	// Commit pins the configuration commit for sources that read git: the
	// trigger's gitcommitid. Empty means the head of the stage's branch.
	Commit string
}

// Source finds and loads the chart of a service: Dir from a directory tree,
// OCI from an OCI registry, Git from a git repository in Keptn's layout.
type Source interface {
	Load(ctx context.Context, ref Ref) (*chart.Chart, error)
}

// CommitSource is a Source that reads charts from git and says which commit
// a chart was read from.
type CommitSource interface {
	Source
	// LoadCommit loads a chart like Load and returns the full id of the
	// commit it was read from.
	LoadCommit(ctx context.Context, ref Ref) (*chart.Chart, string, error)
}

// LoadCommit loads the chart of ref from src and, when src is a
// CommitSource, returns the commit it was read from; otherwise the commit
// is empty.
func LoadCommit(ctx context.Context, src Source, ref Ref) (*chart.Chart, string, error) {
	if c, ok := src.(CommitSource); ok {
		return c.LoadCommit(ctx, ref)
	}
	ch, err := src.Load(ctx, ref)
	return ch, "", err
}

// ErrNotFound is wrapped by Source.Load when the source has no chart for the
// service.
var ErrNotFound = errors.New("chart not found")

// Explicit loads a chart from Override when the Ref names one (Ref.Chart)
// and from Default otherwise.
type Explicit struct {
	Default  Source
	Override Source
}

// Load implements Source.
func (e Explicit) Load(ctx context.Context, ref Ref) (*chart.Chart, error) {
	return e.pick(ref).Load(ctx, ref)
}

// LoadCommit implements CommitSource: the commit is empty unless the
// source the chart came from reads git.
func (e Explicit) LoadCommit(ctx context.Context, ref Ref) (*chart.Chart, string, error) {
	return LoadCommit(ctx, e.pick(ref), ref)
}

func (e Explicit) pick(ref Ref) Source {
	if ref.Chart != "" {
		return e.Override
	}
	return e.Default
}
