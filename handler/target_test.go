package handler

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/helm-service/helm-service/pkg/allowlist"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/kube"
)

// TestResolveTargetOnce: the dispatcher resolves what a trigger is for —
// namespace from the template, allow-list, the releases the task touches,
// strategy and context — into the one Target every task gets.
func TestResolveTargetOnce(t *testing.T) {
	branchTemplate, err := kube.ParseNamespaceTemplate("{{.Project}}-{{.Labels.branch}}")
	if err != nil {
		t.Fatal(err)
	}
	onlyProd, err := allowlist.Parse("sockshop-prod")
	if err != nil {
		t.Fatal(err)
	}
	blueGreen := validTrigger()
	blueGreen["deployment"] = map[string]any{"deploymentstrategy": "blue_green_service"}
	noService := validTrigger()
	delete(noService, "service")
	withBranch := validTrigger()
	withBranch["labels"] = map[string]string{"branch": "feature/Login"}
	for _, tc := range []struct {
		name    string
		task    Task
		data    map[string]any
		opts    Options
		want    Target
		wantErr string
	}{
		{
			name: "direct deployment",
			task: &Deployment{}, data: validTrigger(),
			want: Target{Project: "sockshop", Stage: "staging", Service: "carts", Namespace: "sockshop-staging",
				Releases: []string{"sockshop-staging/carts"}, Strategy: events.StrategyDirect, KeptnContext: "keptn-context", GitCommit: "abc"},
		},
		{
			name: "blue/green deployment",
			task: &Deployment{}, data: blueGreen,
			want: Target{Project: "sockshop", Stage: "staging", Service: "carts", Namespace: "sockshop-staging",
				Releases: []string{"sockshop-staging/carts-canary", "sockshop-staging/carts-primary"}, Strategy: events.StrategyBlueGreen, KeptnContext: "keptn-context", GitCommit: "abc"},
		},
		{
			name: "release touches every release of the service",
			task: &Release{}, data: validTrigger(),
			want: Target{Project: "sockshop", Stage: "staging", Service: "carts", Namespace: "sockshop-staging",
				Releases: []string{"sockshop-staging/carts", "sockshop-staging/carts-canary", "sockshop-staging/carts-primary"}, KeptnContext: "keptn-context", GitCommit: "abc"},
		},
		{
			name: "namespace template",
			task: &Action{}, data: withBranch, opts: Options{NamespaceTemplate: branchTemplate},
			want: Target{Project: "sockshop", Stage: "staging", Service: "carts", Namespace: "sockshop-feature-login",
				Releases: []string{"sockshop-feature-login/carts", "sockshop-feature-login/carts-canary", "sockshop-feature-login/carts-primary"}, KeptnContext: "keptn-context", GitCommit: "abc"},
		},
		{
			name: "no service: a namespace, no releases",
			task: &Deployment{}, data: noService,
			want: Target{Project: "sockshop", Stage: "staging", Namespace: "sockshop-staging", Strategy: events.StrategyDirect, KeptnContext: "keptn-context", GitCommit: "abc"},
		},
		{
			name: "no service: a template error is not the target's",
			task: &Deployment{}, data: noService, opts: Options{NamespaceTemplate: branchTemplate},
			want: Target{Project: "sockshop", Stage: "staging", Strategy: events.StrategyDirect, KeptnContext: "keptn-context", GitCommit: "abc"},
		},
		{
			name: "template error", task: &Deployment{}, data: validTrigger(), opts: Options{NamespaceTemplate: branchTemplate},
			wantErr: `map has no entry for key "branch"`,
		},
		{
			name: "allow-list refuses", task: &Deployment{}, data: validTrigger(), opts: Options{AllowNamespace: onlyProd.Allow},
			wantErr: "sockshop-staging",
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := NewDispatcher("helm-service", nil, quiet, nil, tc.opts)
			e := triggerEvent(t, tc.data)
			e.SetExtension(events.ExtGitCommitID, "abc")
			tr := Trigger{Event: *e}
			if err := json.Unmarshal(e.Data(), &tr.Common); err != nil {
				t.Fatal(err)
			}
			got, err := d.resolveTarget(tc.task, tr)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one naming %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("target (-want +got):\n%s", diff)
			}
		})
	}
}
