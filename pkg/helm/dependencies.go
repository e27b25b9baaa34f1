package helm

import (
	"fmt"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
)

// CheckDependencies refuses a chart whose Chart.yaml declares a dependency
// that its charts/ directory does not hold, as `helm install` and `helm
// upgrade` do: the SDK's actions would render the chart without it. A
// vendored subchart's own dependencies are checked the same way.
func CheckDependencies(ch *chart.Chart) error {
	if ch == nil || ch.Metadata == nil {
		return nil
	}
	if deps := ch.Metadata.Dependencies; len(deps) > 0 {
		if err := action.CheckDependencies(ch, deps); err != nil {
			return fmt.Errorf("chart %s (version %s): dependencies %w; vendor them into the chart before deploying it: run `helm dependency build` (the versions of Chart.lock) or `helm dependency update` in the chart's directory, and ship the chart with its charts/ directory",
				ch.ChartFullPath(), ch.Metadata.Version, err)
		}
	}
	for _, sub := range ch.Dependencies() {
		if err := CheckDependencies(sub); err != nil {
			return err
		}
	}
	return nil
}
