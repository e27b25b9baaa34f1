package handler

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/kube"
)

// rolloutOf is the update strategy of a deployment's Deployments: the
// configured default with what the trigger asks for (deployment.rollout)
// on top. Errors name the trigger's field.
func rolloutOf(configured kube.Rollout, asked *events.Rollout) (kube.Rollout, error) {
	if asked == nil {
		return configured, nil
	}
	o, err := kube.ParseRollout(asked.Strategy, asked.MaxSurge, asked.MaxUnavailable, kube.RolloutFields{
		Type: "deployment.rollout.strategy", MaxSurge: "deployment.rollout.maxSurge", MaxUnavailable: "deployment.rollout.maxUnavailable",
	})
	if err != nil {
		return kube.Rollout{}, err
	}
	r := configured.Override(o)
	if r.Stalls() {
		return kube.Rollout{}, fmt.Errorf("deployment.rollout with the configured default makes maxSurge and maxUnavailable both 0: a rolling update could never proceed")
	}
	return r, nil
}

// rolloutReport is what .finished says about the rollout, or nil when the
// charts' strategies were kept as they are.
func rolloutReport(r kube.Rollout, forced []string) *events.Rollout {
	if r.IsZero() && len(forced) == 0 {
		return nil
	}
	return &events.Rollout{
		Strategy:       string(r.Type),
		MaxSurge:       intOrPercent(r.MaxSurge),
		MaxUnavailable: intOrPercent(r.MaxUnavailable),
		ForcedRecreate: forced,
	}
}

func intOrPercent(v *intstr.IntOrString) any {
	switch {
	case v == nil:
		return nil
	case v.Type == intstr.Int:
		return v.IntVal
	}
	return v.StrVal
}

// withForcedRecreate appends to a message which Deployments got Recreate.
func withForcedRecreate(msg string, forced []string) string {
	if len(forced) == 0 {
		return msg
	}
	return msg + "; " + strings.Join(forced, "; ")
}
