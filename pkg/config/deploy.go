package config

import (
	"fmt"
	"time"

	"github.com/helm-service/helm-service/pkg/kube"
)

// Deploy is what the tasks do to a service: how long they wait, how its
// Deployments roll, how far scaling goes and the URIs a deployment
// reports.
type Deploy struct {
	// WaitTimeout bounds how long a deployment waits for its workloads.
	WaitTimeout time.Duration `envconfig:"WAIT_TIMEOUT" default:"5m"`
	// FailFast ends a deployment's wait early when a pod of its workloads
	// cannot become ready (image pull or crash loop back-off, unschedulable,
	// a claim left Pending).
	FailFast bool `envconfig:"FAIL_FAST" default:"true"`
	// Rollout is the update strategy of every chart's Deployments unless a
	// trigger asks for another; zero keeps what the chart says. Load reads
	// it from ROLLOUT_STRATEGY, ROLLOUT_MAX_SURGE and
	// ROLLOUT_MAX_UNAVAILABLE.
	Rollout kube.Rollout `ignored:"true"`
	// RollbackDirectOnFail rolls a direct release back to its previous Helm
	// revision on a failed release or a rollback.
	RollbackDirectOnFail bool `envconfig:"ROLLBACK_DIRECT_ON_FAIL" default:"true"`
	// MaxHistory is how many revisions of a release an upgrade or a
	// rollback keeps (the release records in Secrets, oldest removed
	// first); 0 keeps every revision.
	MaxHistory int `envconfig:"MAX_HISTORY" default:"10"`
	// MaxReplicas is the most replicas a scaling action sets on a workload.
	MaxReplicas int32 `envconfig:"MAX_REPLICAS" default:"100"`
	// RedeployOnVariableChange watches the variable groups' Secrets and
	// rolls the Deployments that read a group changed outside a deployment.
	RedeployOnVariableChange bool `envconfig:"REDEPLOY_ON_VARIABLE_CHANGE" default:"false"`

	// Ingress settings build the public URI of a deployment, as in Keptn.
	IngressProtocol       string `envconfig:"INGRESS_PROTOCOL" default:"http"`
	IngressHostnameSuffix string `envconfig:"INGRESS_HOSTNAME_SUFFIX" default:"svc.cluster.local"`
	IngressPort           string `envconfig:"INGRESS_PORT" default:"80"`
	// PublicURITemplate is expanded with ${INGRESS_PROTOCOL}, ${SERVICE},
	// ${PROJECT}, ${STAGE}, ${NAMESPACE}, ${INGRESS_HOSTNAME_SUFFIX} and
	// ${INGRESS_PORT}. ${NAMESPACE} is the namespace NAMESPACE_TEMPLATE
	// gives (Keptn's <project>-<stage> by default).
	PublicURITemplate string `envconfig:"PUBLIC_URI_TEMPLATE" default:"${INGRESS_PROTOCOL}://${SERVICE}.${NAMESPACE}.${INGRESS_HOSTNAME_SUFFIX}:${INGRESS_PORT}"`
}

func (d Deploy) validate() error {
	if d.WaitTimeout <= 0 {
		return fmt.Errorf("WAIT_TIMEOUT must be positive, got %s", d.WaitTimeout)
	}
	if d.MaxHistory < 0 {
		return fmt.Errorf("MAX_HISTORY must not be negative (0 keeps every revision), got %d", d.MaxHistory)
	}
	if d.MaxReplicas < 0 {
		return fmt.Errorf("MAX_REPLICAS must not be negative, got %d", d.MaxReplicas)
	}
	return nil
}

// Traffic is how blue/green services' traffic is routed.
type Traffic struct {
	// RouteMode is where a blue/green service's stable endpoint sends
	// traffic while a new version runs as the canary: canary (all traffic
	// to the canary, as Keptn did) or dark (traffic stays on the primary;
	// tests use the canary's own endpoint).
	RouteMode string `envconfig:"ROUTE_MODE" default:"canary"`
	// Router routes blue/green services: service (plain Kubernetes
	// Services), gatewayapi (HTTPRoute weights) or istio (VirtualService
	// weights).
	Router string `envconfig:"TRAFFIC_ROUTER" default:"service"`
	// GatewayName and GatewayNamespace are the Gateway the gatewayapi
	// router's HTTPRoutes attach to; without a name they attach to the
	// stable Service (the mesh profile).
	GatewayName      string `envconfig:"GATEWAY_NAME"`
	GatewayNamespace string `envconfig:"GATEWAY_NAMESPACE"`
	// IstioGateways are Istio Gateways (namespace/name) the istio router's
	// VirtualServices attach to besides the mesh.
	IstioGateways []string `envconfig:"ISTIO_GATEWAYS"`
}

func (t Traffic) validate() error {
	if t.RouteMode != "canary" && t.RouteMode != "dark" {
		return fmt.Errorf("ROUTE_MODE must be canary or dark, got %q", t.RouteMode)
	}
	switch t.Router {
	case "service", "gatewayapi", "istio":
	default:
		return fmt.Errorf("TRAFFIC_ROUTER must be service, gatewayapi or istio, got %q", t.Router)
	}
	return nil
}

// Removal is what removing a deleted service takes as its signal and
// leaves behind.
type Removal struct {
	// EventSources are the CloudEvents sources whose
	// service.delete.finished removes a service.
	EventSources []string `envconfig:"DELETE_EVENT_SOURCES" default:"shipyard-controller"`
	// DeleteEmptyNamespaces deletes a namespace helm-service created when
	// removing a deleted service leaves it empty.
	DeleteEmptyNamespaces bool `envconfig:"DELETE_EMPTY_NAMESPACES" default:"false"`
}
