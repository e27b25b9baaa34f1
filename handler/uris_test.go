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
	s.PublicURITemplate, s.IngressProtocol, s.IngressSuffix, s.IngressPort = cfg.Deploy.PublicURITemplate, cfg.Deploy.IngressProtocol, cfg.Deploy.IngressHostnameSuffix, cfg.Deploy.IngressPort
	f := newFixtureIn(t, tmpl, s, lifecycleSettings)
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

// TestLocalURINamesTheMainService checks that deploymentURIsLocal names the
// Service the release says selects its main workload, not its first
// Service: the release's own for direct and dark blue/green deployments,
// the stable Service in front of it for canary blue/green ones.
func TestLocalURINamesTheMainService(t *testing.T) {
	for _, c := range []struct{ strategy, mode, want string }{
		{"direct", RouteModeCanary, "http://carts.sockshop-staging:80"},
		{"blue_green_service", RouteModeCanary, "http://carts.sockshop-staging:80"},
		{"blue_green_service", RouteModeDark, "http://carts-canary.sockshop-staging:80"},
	} {
		t.Run(c.strategy+" "+c.mode, func(t *testing.T) {
			s := settings
			s.RouteMode = c.mode
			f := newFixtureWith(t, s, lifecycleSettings)
			f.charts.EXPECT().Load(gomock.Any(), gomock.Any()).Return(testChart(), nil)
			f.namespaces.EXPECT().Ensure(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil)
			f.releases.EXPECT().Get(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil, helm.ErrNotFound).AnyTimes()
			f.releases.EXPECT().Upgrade(gomock.Any(), gomock.Any()).DoAndReturn(func(_ context.Context, req helm.Request) (*helm.Result, error) {
				return &helm.Result{Namespace: req.Namespace, Name: req.Name, Revision: 1, MainServiceName: req.Name, Services: []helm.Service{
					{Name: req.Name + "-db", Namespace: req.Namespace, Port: 5432},
					{Name: req.Name, Namespace: req.Namespace, Port: 80},
				}}, nil
			}).AnyTimes()
			f.router.EXPECT().Route(gomock.Any(), gomock.Any(), gomock.Any()).Return(nil).AnyTimes()
			in := validTrigger()
			in["deployment"] = map[string]any{"deploymentstrategy": c.strategy}
			f.deliver(triggerEvent(t, in))

			_, data := f.published.finished(t)
			if data.Status != events.StatusSucceeded {
				t.Fatalf("finished %s: %s", data.Status, data.Message)
			}
			if got := fmt.Sprint(data.Deployment.DeploymentURIsLocal); got != "["+c.want+"]" {
				t.Errorf("deploymentURIsLocal = %s, want [%s]", got, c.want)
			}
		})
	}
}
