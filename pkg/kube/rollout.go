package kube

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// Rollout is how a chart's Deployments replace their pods. The zero value
// keeps what the chart says.
type Rollout struct {
	// Type is RollingUpdate, Recreate or "" (the chart's own).
	Type appsv1.DeploymentStrategyType
	// MaxSurge and MaxUnavailable tune RollingUpdate; nil keeps the
	// chart's value (or Kubernetes' default of 25%).
	MaxSurge       *intstr.IntOrString
	MaxUnavailable *intstr.IntOrString
}

// RolloutFields name where each part of a Rollout came from, for errors.
type RolloutFields struct {
	Type, MaxSurge, MaxUnavailable string
}

// ParseRollout reads a rollout from its parts: strategy is RollingUpdate,
// Recreate or empty; maxSurge and maxUnavailable are each nil, "", a
// whole number (a JSON number or a string of digits) or a percentage
// ("25%"). Errors name the field of fields that is wrong.
func ParseRollout(strategy string, maxSurge, maxUnavailable any, fields RolloutFields) (Rollout, error) {
	var r Rollout
	var errs []error
	switch s := appsv1.DeploymentStrategyType(strategy); s {
	case "", appsv1.RollingUpdateDeploymentStrategyType, appsv1.RecreateDeploymentStrategyType:
		r.Type = s
	default:
		errs = append(errs, fmt.Errorf("%s %q is not a rollout strategy: use RollingUpdate or Recreate", fields.Type, strategy))
	}
	var err error
	if r.MaxSurge, err = parseIntOrPercent(maxSurge); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", fields.MaxSurge, err))
	}
	if r.MaxUnavailable, err = parseIntOrPercent(maxUnavailable); err != nil {
		errs = append(errs, fmt.Errorf("%s: %w", fields.MaxUnavailable, err))
	} else if r.MaxUnavailable != nil && r.MaxUnavailable.Type == intstr.String && percent(r.MaxUnavailable) > 100 {
		errs = append(errs, fmt.Errorf("%s %q: must not be above 100%%", fields.MaxUnavailable, r.MaxUnavailable.StrVal))
	}
	if len(errs) > 0 {
		return Rollout{}, errors.Join(errs...)
	}
	if r.Type == appsv1.RecreateDeploymentStrategyType && (r.MaxSurge != nil || r.MaxUnavailable != nil) {
		return Rollout{}, fmt.Errorf("%s and %s apply to RollingUpdate only, and %s is Recreate", fields.MaxSurge, fields.MaxUnavailable, fields.Type)
	}
	if isZero(r.MaxSurge) && isZero(r.MaxUnavailable) {
		return Rollout{}, fmt.Errorf("%s and %s are both 0: a rolling update could never proceed", fields.MaxSurge, fields.MaxUnavailable)
	}
	return r, nil
}

// parseIntOrPercent reads a whole number >= 0 or a percentage.
func parseIntOrPercent(v any) (*intstr.IntOrString, error) {
	switch x := v.(type) {
	case nil:
		return nil, nil
	case float64:
		if x < 0 || x != math.Trunc(x) || x > math.MaxInt32 {
			return nil, fmt.Errorf("%v is not a whole number of pods >= 0", x)
		}
		out := intstr.FromInt32(int32(x))
		return &out, nil
	case int:
		if x < 0 || x > math.MaxInt32 {
			return nil, fmt.Errorf("%d is not a number of pods >= 0", x)
		}
		out := intstr.FromInt32(int32(x))
		return &out, nil
	case string:
		s := strings.TrimSpace(x)
		if s == "" {
			return nil, nil
		}
		if digits, ok := strings.CutSuffix(s, "%"); ok {
			if _, err := strconv.ParseUint(digits, 10, 31); err != nil {
				return nil, fmt.Errorf("%q is not a percentage like 25%%", x)
			}
			out := intstr.FromString(s)
			return &out, nil
		}
		n, err := strconv.ParseUint(s, 10, 31)
		if err != nil {
			return nil, fmt.Errorf("%q is neither a whole number of pods >= 0 nor a percentage like 25%%", x)
		}
		out := intstr.FromInt32(int32(n))
		return &out, nil
	}
	return nil, fmt.Errorf("got a %T, want a whole number of pods or a percentage like \"25%%\"", v)
}

func percent(v *intstr.IntOrString) int {
	n, _ := strconv.Atoi(strings.TrimSuffix(v.StrVal, "%"))
	return n
}

func isZero(v *intstr.IntOrString) bool {
	if v == nil {
		return false
	}
	if v.Type == intstr.Int {
		return v.IntVal == 0
	}
	return percent(v) == 0
}

// Override returns r with the parts o sets replaced. Recreate drops
// RollingUpdate's parameters.
func (r Rollout) Override(o Rollout) Rollout {
	if o.Type != "" {
		r.Type = o.Type
	}
	if o.MaxSurge != nil {
		r.MaxSurge = o.MaxSurge
	}
	if o.MaxUnavailable != nil {
		r.MaxUnavailable = o.MaxUnavailable
	}
	if r.Type == appsv1.RecreateDeploymentStrategyType {
		r.MaxSurge, r.MaxUnavailable = nil, nil
	}
	return r
}

// IsZero reports whether r keeps the chart's strategy as it is.
func (r Rollout) IsZero() bool {
	return r.Type == "" && r.MaxSurge == nil && r.MaxUnavailable == nil
}

// Apply sets r on a Deployment's strategy: the parts r leaves unset keep
// the chart's values.
func (r Rollout) Apply(s *appsv1.DeploymentStrategy) {
	if r.Type != "" {
		s.Type = r.Type
	}
	if s.Type == appsv1.RecreateDeploymentStrategyType {
		s.RollingUpdate = nil
		return
	}
	if r.MaxSurge == nil && r.MaxUnavailable == nil {
		return
	}
	if s.RollingUpdate == nil {
		s.RollingUpdate = &appsv1.RollingUpdateDeployment{}
	}
	if r.MaxSurge != nil {
		s.RollingUpdate.MaxSurge = r.MaxSurge
	}
	if r.MaxUnavailable != nil {
		s.RollingUpdate.MaxUnavailable = r.MaxUnavailable
	}
}

// Stalls reports whether r sets both maxSurge and maxUnavailable to 0,
// with which a rolling update never proceeds.
func (r Rollout) Stalls() bool { return isZero(r.MaxSurge) && isZero(r.MaxUnavailable) }
