package kube

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

var testFields = RolloutFields{Type: "strategy", MaxSurge: "maxSurge", MaxUnavailable: "maxUnavailable"}

func TestParseRollout(t *testing.T) {
	cases := []struct {
		name                string
		strategy            string
		surge, unavail      any
		wantSurge, wantUnav string
		wantErr             string
	}{
		{"empty keeps the chart's", "", nil, nil, "", "", ""},
		{"percent and JSON number", "RollingUpdate", "50%", float64(1), "50%", "1", ""},
		{"digits from the environment", "", "2", "0", "2", "0", ""},
		{"unknown strategy", "BlueGreen", nil, nil, "", "", `strategy "BlueGreen" is not a rollout strategy`},
		{"fraction", "", 1.5, nil, "", "", "maxSurge: 1.5 is not a whole number"},
		{"negative", "", nil, "-1", "", "", "maxUnavailable"},
		{"bad percent", "", "ten%", nil, "", "", `maxSurge: "ten%" is not a percentage`},
		{"unavailable above 100%", "", nil, "150%", "", "", "must not be above 100%"},
		{"wrong JSON type", "", map[string]any{}, nil, "", "", "maxSurge: got a map"},
		{"both zero", "", "0", "0%", "", "", "both 0"},
		{"recreate with parameters", "Recreate", "1", nil, "", "", "apply to RollingUpdate only"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r, err := ParseRollout(c.strategy, c.surge, c.unavail, testFields)
			if c.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), c.wantErr) {
					t.Fatalf("ParseRollout = %+v, %v; want error containing %q", r, err, c.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := str(r.MaxSurge); got != c.wantSurge {
				t.Errorf("maxSurge = %q, want %q", got, c.wantSurge)
			}
			if got := str(r.MaxUnavailable); got != c.wantUnav {
				t.Errorf("maxUnavailable = %q, want %q", got, c.wantUnav)
			}
		})
	}
}

func TestRolloutOverrideAndApply(t *testing.T) {
	def, err := ParseRollout("RollingUpdate", "25%", "0", testFields)
	if err != nil {
		t.Fatal(err)
	}
	asked, err := ParseRollout("", "3", nil, testFields)
	if err != nil {
		t.Fatal(err)
	}
	r := def.Override(asked)
	var s appsv1.DeploymentStrategy
	r.Apply(&s)
	if s.Type != appsv1.RollingUpdateDeploymentStrategyType || str(s.RollingUpdate.MaxSurge) != "3" || str(s.RollingUpdate.MaxUnavailable) != "0" {
		t.Errorf("strategy = %+v", s)
	}
	recreate := def.Override(Rollout{Type: appsv1.RecreateDeploymentStrategyType})
	recreate.Apply(&s)
	if s.Type != appsv1.RecreateDeploymentStrategyType || s.RollingUpdate != nil {
		t.Errorf("recreate strategy = %+v", s)
	}
}

func str(v *intstr.IntOrString) string {
	if v == nil {
		return ""
	}
	return v.String()
}
