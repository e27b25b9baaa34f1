package kube

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestWorkloadKinds(t *testing.T) {
	type traits struct{ RunsPods, HasPodTemplate, LongRunning, Scaled bool }
	want := map[string]traits{
		"Deployment":  {true, true, true, true},
		"StatefulSet": {true, true, true, true},
		"DaemonSet":   {true, true, true, false},
		"ReplicaSet":  {true, true, false, false},
		"Job":         {true, true, false, false},
		"Pod":         {true, false, false, false},
		"Service":     {},
		"CronJob":     {},
		"":            {},
	}
	got := map[string]traits{}
	for kind := range want {
		got[kind] = traits{RunsPods(kind), HasPodTemplate(kind), LongRunning(kind), Scaled(kind)}
	}
	if d := cmp.Diff(want, got); d != "" {
		t.Errorf("traits of the workload kinds (-want +got):\n%s", d)
	}
}
