package deployed

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/kube"
)

func TestReleaseNames(t *testing.T) {
	for _, tc := range []struct {
		name string
		got  []string
		want []string
	}{
		{"every release a service can have", ReleaseNames("carts"), []string{"carts", "carts-primary", "carts-canary"}},
		{"direct", StrategyReleaseNames("carts", events.StrategyDirect), []string{"carts"}},
		{"user_managed", StrategyReleaseNames("carts", events.StrategyUserManaged), []string{"carts"}},
		{"blue/green", StrategyReleaseNames("carts", events.StrategyBlueGreen), []string{"carts-primary", "carts-canary"}},
		{"sides", []string{ReleaseName("carts-db", Primary), ReleaseName("carts-db", Canary)}, []string{"carts-db-primary", "carts-db-canary"}},
	} {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}

func TestLabels(t *testing.T) {
	base := map[string]string{
		kube.LabelProject: "sockshop", kube.LabelStage: "staging", kube.LabelService: "carts",
		kube.LabelContext: "ctx-1", kube.LabelStrategy: "direct", "team": "a",
	}
	for _, tc := range []struct {
		name string
		got  map[string]string
		want map[string]string
	}{
		{"primary record: the service's labels, the strategy and the side, nothing else", RecordLabels(base, Primary), map[string]string{
			kube.LabelProject: "sockshop", kube.LabelStage: "staging", kube.LabelService: "carts",
			kube.LabelStrategy: "blue_green_service", kube.LabelDeployment: "primary",
		}},
		{"canary record without a stage", RecordLabels(map[string]string{kube.LabelService: "carts"}, Canary), map[string]string{
			kube.LabelService: "carts", kube.LabelStrategy: "blue_green_service", kube.LabelDeployment: "canary",
		}},
		{"objects", ObjectLabels("carts", Canary), map[string]string{kube.LabelService: "carts", kube.LabelDeployment: "canary"}},
	} {
		if diff := cmp.Diff(tc.want, tc.got); diff != "" {
			t.Errorf("%s (-want +got):\n%s", tc.name, diff)
		}
	}
}
