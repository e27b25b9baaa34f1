package kube

import (
	"strconv"
	"strings"

	"k8s.io/apimachinery/pkg/util/intstr"
)

// Labels of a release record that keep the rollout its deployment was
// rendered with (see Rollout.Labels).
const (
	LabelRolloutStrategy       = "keptn.sh/rollout-strategy"
	LabelRolloutMaxSurge       = "keptn.sh/rollout-max-surge"
	LabelRolloutMaxUnavailable = "keptn.sh/rollout-max-unavailable"
)

// RolloutLabelKeys are the labels Rollout.Labels may write.
func RolloutLabelKeys() []string {
	return []string{LabelRolloutStrategy, LabelRolloutMaxSurge, LabelRolloutMaxUnavailable}
}

// percentSuffix stands for % in a label value, which cannot hold it.
const percentSuffix = "pct"

// Labels returns the parts r sets as labels: the strategy's type, and
// maxSurge and maxUnavailable as a number of pods ("1") or a percentage
// ("25pct" for 25%).
func (r Rollout) Labels() map[string]string {
	out := map[string]string{}
	if r.Type != "" {
		out[LabelRolloutStrategy] = string(r.Type)
	}
	for key, v := range map[string]*intstr.IntOrString{LabelRolloutMaxSurge: r.MaxSurge, LabelRolloutMaxUnavailable: r.MaxUnavailable} {
		switch {
		case v == nil:
		case v.Type == intstr.Int:
			out[key] = strconv.Itoa(int(v.IntVal))
		default:
			out[key] = strings.TrimSuffix(v.StrVal, "%") + percentSuffix
		}
	}
	return out
}

// RolloutFromLabels reads the rollout Labels wrote; a part without its
// label is unset. Errors name the label.
func RolloutFromLabels(labels map[string]string) (Rollout, error) {
	number := func(key string) any {
		v, ok := labels[key]
		if !ok {
			return nil
		}
		if n, ok := strings.CutSuffix(v, percentSuffix); ok {
			return n + "%"
		}
		return v
	}
	return ParseRollout(labels[LabelRolloutStrategy], number(LabelRolloutMaxSurge), number(LabelRolloutMaxUnavailable), RolloutFields{
		Type:           "release label " + LabelRolloutStrategy,
		MaxSurge:       "release label " + LabelRolloutMaxSurge,
		MaxUnavailable: "release label " + LabelRolloutMaxUnavailable,
	})
}
