package handler

import (
	"strings"
	"testing"

	"github.com/golang/mock/gomock"

	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
)

func withChart(chart map[string]any) map[string]any {
	m := validTrigger()
	m["deployment"] = map[string]any{"deploymentstrategy": "direct", "chart": chart}
	return m
}

func TestDeploymentChartRefRefused(t *testing.T) {
	for _, c := range []struct {
		name  string
		chart map[string]any
		want  string
	}{
		{"not oci", map[string]any{"ref": "https://charts.example.com/carts"}, "deployment.chart.ref: \"https://charts.example.com/carts\" is not an OCI reference"},
		{"bad repository", map[string]any{"ref": "oci://registry.example.com/Carts"}, "deployment.chart.ref: \"oci://registry.example.com/Carts\" is not a valid OCI reference"},
		{"bad version", map[string]any{"ref": "oci://registry.example.com/carts", "version": "1.0 beta"}, "deployment.chart.version: \"1.0 beta\" is not a valid tag"},
		{"bad digest", map[string]any{"version": "sha256:123"}, "deployment.chart.version: \"sha256:123\" is not a valid digest"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixture(t) // no EXPECT: a refused trigger touches no chart source and no cluster
			f.deliver(triggerEvent(t, withChart(c.chart)))
			_, data := f.published.finished(t)
			if data.Status != events.StatusErrored || data.Result != events.ResultFail || !strings.Contains(data.Message, c.want) {
				t.Errorf("finished %s/%s %q, want errored/fail containing %q", data.Status, data.Result, data.Message, c.want)
			}
		})
	}
}

func TestDeploymentPassesChartRefToTheSource(t *testing.T) {
	withRefs := settings
	withRefs.ChartRefs = allowRefs(t, "registry.example.com/shared/*")
	f := newFixtureWith(t, withRefs, lifecycleSettings)
	ev := triggerEvent(t, withChart(map[string]any{"ref": "oci://registry.example.com/shared/web", "version": "0.1.0"}))
	ev.SetExtension(events.ExtGitCommitID, "4b825dc642cb6eb9a060e54bf8d69288fbee4904")
	f.charts.EXPECT().Load(gomock.Any(), charts.Ref{
		Project: "sockshop", Stage: "staging", Service: "carts",
		Chart: "oci://registry.example.com/shared/web", Version: "0.1.0", Commit: "4b825dc642cb6eb9a060e54bf8d69288fbee4904",
	}).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), "sockshop-staging", gomock.Any()).Return(nil)
	f.releases.EXPECT().Get(gomock.Any(), "sockshop-staging", "carts").Return(nil, helm.ErrNotFound)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(&helm.Result{Namespace: "sockshop-staging", Name: "carts", Revision: 1}, nil)
	f.deliver(ev)
	if _, data := f.published.finished(t); data.Status != events.StatusSucceeded {
		t.Errorf("finished %s: %s", data.Status, data.Message)
	}
}

func TestDeploymentRefusesAChartOfAnotherVersion(t *testing.T) {
	f := newFixture(t)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil) // version 0.1.0
	f.deliver(triggerEvent(t, withChart(map[string]any{"version": "0.2.0"})))
	_, data := f.published.finished(t)
	if data.Status != events.StatusErrored || !strings.Contains(data.Message, "deployment.chart.version asks for 0.2.0") || !strings.Contains(data.Message, "version 0.1.0") {
		t.Errorf("finished %s: %q", data.Status, data.Message)
	}
}

func allowRefs(t *testing.T, patterns ...string) charts.RefAllowlist {
	t.Helper()
	a, err := charts.ParseRefAllowlist(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// A chart named in a trigger is refused, without a look at any chart
// source, unless CHART_REF_ALLOWED allows it and it pins a version.
func TestDeploymentChartRefNeedsTheOperatorsAllowance(t *testing.T) {
	withRefs := settings
	withRefs.ChartRefs = allowRefs(t, "registry.example.com/shared/*")
	for _, c := range []struct {
		name     string
		settings DeploymentSettings
		chart    map[string]any
		want     string
	}{
		{"refs off by default", settings, map[string]any{"ref": "oci://registry.example.com/shared/web:1.0.0"}, "charts named in a trigger are off"},
		{"host not allowed", withRefs, map[string]any{"ref": "oci://10.0.0.1:5000/shared/web:1.0.0"}, "10.0.0.1:5000/shared/web is not allowed by CHART_REF_ALLOWED"},
		{"no version", withRefs, map[string]any{"ref": "oci://registry.example.com/shared/web"}, "must pin the chart's version"},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := newFixtureWith(t, c.settings, lifecycleSettings) // no EXPECT: nothing is fetched
			f.deliver(triggerEvent(t, withChart(c.chart)))
			_, data := f.published.finished(t)
			if data.Status != events.StatusErrored || !strings.Contains(data.Message, c.want) || !strings.Contains(data.Message, "deployment.chart.ref") {
				t.Errorf("finished %s %q, want errored naming deployment.chart.ref and saying %q", data.Status, data.Message, c.want)
			}
		})
	}
}
