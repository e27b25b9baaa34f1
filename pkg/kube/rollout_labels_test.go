package kube

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation"
)

func TestRolloutLabelsRoundTrip(t *testing.T) {
	one, half, zero := intstr.FromInt32(1), intstr.FromString("50%"), intstr.FromInt32(0)
	for _, r := range []Rollout{
		{},
		{Type: appsv1.RecreateDeploymentStrategyType},
		{Type: appsv1.RollingUpdateDeploymentStrategyType, MaxSurge: &half, MaxUnavailable: &zero},
		{MaxSurge: &one},
	} {
		labels := r.Labels()
		for k, v := range labels {
			if errs := validation.IsValidLabelValue(v); len(errs) > 0 {
				t.Errorf("%+v: label %s=%q is not a valid label value: %v", r, k, v, errs)
			}
		}
		got, err := RolloutFromLabels(labels)
		if err != nil {
			t.Fatalf("%+v: labels %v: %v", r, labels, err)
		}
		if !equality.Semantic.DeepEqual(got, r) {
			t.Errorf("labels %v read back as %+v, want %+v", labels, got, r)
		}
	}
	if got := (Rollout{MaxSurge: &half}).Labels()[LabelRolloutMaxSurge]; got != "50pct" {
		t.Errorf("50%% is written %q, want 50pct", got)
	}
}

func TestRolloutFromLabelsNamesTheBadLabel(t *testing.T) {
	for _, c := range []struct {
		labels map[string]string
		want   string
	}{
		{map[string]string{LabelRolloutStrategy: "Sometimes"}, "release label keptn.sh/rollout-strategy"},
		{map[string]string{LabelRolloutMaxSurge: "many"}, "release label keptn.sh/rollout-max-surge"},
		{map[string]string{LabelRolloutMaxUnavailable: "150pct"}, "release label keptn.sh/rollout-max-unavailable"},
		{map[string]string{LabelRolloutMaxSurge: "0", LabelRolloutMaxUnavailable: "0"}, "both 0"},
	} {
		_, err := RolloutFromLabels(c.labels)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("labels %v: error %v, want one containing %q", c.labels, err, c.want)
		}
	}
}
