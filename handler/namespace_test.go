package handler

import (
	"context"
	"strings"
	"testing"

	"github.com/golang/mock/gomock"

	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// TestNamespaceTemplateIsSharedByEveryTask deploys into a branch namespace
// and checks that a release of the same service looks in that namespace.
func TestNamespaceTemplateIsSharedByEveryTask(t *testing.T) {
	tmpl, err := kube.ParseNamespaceTemplate("{{.Project}}-{{.Labels.branch}}")
	if err != nil {
		t.Fatal(err)
	}
	s, ls := settings, lifecycleSettings
	const branchNS = "sockshop-feature-login-2"
	withBranch := func(m map[string]any) map[string]any {
		m["labels"] = map[string]string{"branch": "feature/Login_2"}
		return m
	}

	f := newFixtureIn(t, tmpl, s, ls)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), branchNS, gomock.Any()).Return(nil)
	f.releases.EXPECT().Get(gomock.Any(), branchNS, "carts").Return(nil, helm.ErrNotFound)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1}, nil
	})
	f.deliver(triggerEvent(t, withBranch(validTrigger())))
	_, data := f.published.finished(t)
	if data.Status != events.StatusSucceeded || data.Deployment == nil || data.Deployment.Namespace != branchNS {
		t.Fatalf("deployment finished %s: %s (%+v)", data.Status, data.Message, data.Deployment)
	}

	f = newFixtureIn(t, tmpl, s, ls)
	f.releases.EXPECT().Find(gomock.Any(), branchNS, gomock.Any()).Return(nil, nil)
	e := triggerEvent(t, withBranch(lifecycleEvent(t, "release", "pass")))
	e.SetType(events.Type(events.TaskRelease, events.PhaseTriggered))
	f.deliver(e)
	common, _ := lifecycleAnswer(t, f.published, events.TaskRelease)
	if !strings.Contains(common.Message, "in namespace "+branchNS) {
		t.Errorf("release looked elsewhere: %s", common.Message)
	}
}

// TestNamespaceTemplateErrors: a trigger without a label the template
// needs is answered errored, naming the namespace and the label, before
// anything is touched; a long name is shortened, not refused.
func TestNamespaceTemplateErrors(t *testing.T) {
	tmpl, err := kube.ParseNamespaceTemplate("{{.Project}}-{{.Labels.branch}}")
	if err != nil {
		t.Fatal(err)
	}
	s := settings
	f := newFixtureIn(t, tmpl, s, lifecycleSettings) // no EXPECT: touching a collaborator fails the test
	f.deliver(triggerEvent(t, validTrigger()))
	_, data := f.published.finished(t)
	if data.Status != events.StatusErrored || !strings.Contains(data.Message, "namespace") || !strings.Contains(data.Message, `"branch"`) {
		t.Errorf("finished %s: %s", data.Status, data.Message)
	}

	f = newFixture(t)
	m := validTrigger()
	m["project"], m["stage"] = strings.Repeat("p", 40), strings.Repeat("s", 30)
	want := kube.SanitizeNamespace(m["project"].(string) + "-" + m["stage"].(string))
	if len(want) != 63 {
		t.Fatalf("shortened namespace %q has %d characters", want, len(want))
	}
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), want, gomock.Any()).Return(nil)
	f.releases.EXPECT().Get(gomock.Any(), want, "carts").Return(nil, helm.ErrNotFound)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).Return(&helm.Result{Namespace: want, Name: "carts", Revision: 1}, nil)
	f.deliver(triggerEvent(t, m))
	if _, data := f.published.finished(t); data.Status != events.StatusSucceeded {
		t.Errorf("finished %s: %s", data.Status, data.Message)
	}
}
