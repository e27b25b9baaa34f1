package handler

import (
	"context"
	"fmt"
	"testing"

	"github.com/golang/mock/gomock"

	"github.com/helm-service/helm-service/pkg/config"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// TestDefaultPublicURINamesTheTemplatesNamespace deploys with the default
// PUBLIC_URI_TEMPLATE and ingress settings and a NAMESPACE_TEMPLATE: the
// public URI names the namespace the service went to.
func TestDefaultPublicURINamesTheTemplatesNamespace(t *testing.T) {
	cfg, err := config.Load()
	if err != nil {
		t.Fatal(err)
	}
	tmpl, err := kube.ParseNamespaceTemplate("{{.Stage}}-{{.Project}}")
	if err != nil {
		t.Fatal(err)
	}
	s := settings
	s.PublicURITemplate, s.IngressProtocol, s.IngressSuffix, s.IngressPort = cfg.PublicURITemplate, cfg.IngressProtocol, cfg.IngressHostnameSuffix, cfg.IngressPort
	s.NamespaceTemplate = tmpl
	f := newFixtureWith(t, s, lifecycleSettings)
	f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
	f.namespaces.EXPECT().Ensure(gomock.Any(), "staging-sockshop", gomock.Any()).Return(nil)
	f.releases.EXPECT().Get(gomock.Any(), "staging-sockshop", "carts").Return(nil, helm.ErrNotFound)
	f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
		return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1}, nil
	})
	f.deliver(triggerEvent(t, validTrigger()))

	_, data := f.published.finished(t)
	if data.Status != events.StatusSucceeded {
		t.Fatalf("finished %s: %s", data.Status, data.Message)
	}
	if got := fmt.Sprint(data.Deployment.DeploymentURIsPublic); got != "[http://carts.staging-sockshop.svc.cluster.local:80]" {
		t.Errorf("deploymentURIsPublic = %s, want [http://carts.staging-sockshop.svc.cluster.local:80]", got)
	}
}
