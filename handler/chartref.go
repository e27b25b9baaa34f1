package handler

import (
	"fmt"
	"strings"

	"helm.sh/helm/v3/pkg/chart"

	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/events"
)

// chartRef is the chart a deployment trigger asks for: the service's own,
// optionally pinned to a version (deployment.chart.version) and to the
// trigger's configuration commit (gitcommitid), or the chart
// deployment.chart.ref names, if CHART_REF_ALLOWED allows it. Bad references
// are refused naming the field.
func chartRef(t Trigger, in *events.DeploymentTriggered, allowed charts.RefAllowlist) (charts.Ref, error) {
	ref := charts.Ref{
		Project: in.Project,
		Stage:   in.Stage,
		Service: in.Service,
		Commit:  events.StringExtension(t.Event, events.ExtGitCommitID),
	}
	c := in.Deployment.Chart
	if c == nil {
		return ref, nil
	}
	if c.Ref != "" {
		if _, err := charts.ParseOCIReference(c.Ref); err != nil {
			return charts.Ref{}, fmt.Errorf("deployment.chart.ref: %w", err)
		}
	}
	if c.Version != "" {
		if err := charts.ValidateOCIVersion(c.Version); err != nil {
			return charts.Ref{}, fmt.Errorf("deployment.chart.version: %w", err)
		}
	}
	if c.Ref != "" {
		if err := allowed.Check(c.Ref, c.Version); err != nil {
			return charts.Ref{}, err
		}
	}
	ref.Chart, ref.Version = c.Ref, c.Version
	return ref, nil
}

// checkVersion refuses a chart whose version is not the one the trigger
// pinned with a tag, whatever source it came from: a directory or a git
// commit holds one version of a chart, and deploying another silently would
// be wrong.
func checkVersion(ref charts.Ref, ch *chart.Chart) error {
	if ref.Version == "" || strings.Contains(ref.Version, ":") { // none, or a digest
		return nil
	}
	if got := ch.Metadata.Version; got != ref.Version && got != strings.ReplaceAll(ref.Version, "_", "+") {
		return fmt.Errorf("deployment.chart.version asks for %s, the chart found for service %s is %s version %s", ref.Version, ref.Service, ch.Metadata.Name, got)
	}
	return nil
}
