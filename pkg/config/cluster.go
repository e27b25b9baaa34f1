package config

import (
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// Cluster is how helm-service talks to the Kubernetes API server. The
// cluster itself is found the usual way (kube.LoadConfig).
type Cluster struct {
	// KubeQPS and KubeBurst limit the requests per second each Kubernetes
	// client sends (client-go's own defaults are 5 and 10). Every task
	// reads its namespace, deployer and variable groups through one shared
	// client: at 50 requests/s that client held the service to about 6
	// tasks a second, whatever MAX_PARALLEL_TASKS allowed.
	KubeQPS   float32 `envconfig:"KUBE_QPS" default:"200"`
	KubeBurst int     `envconfig:"KUBE_BURST" default:"400"`
	// Impersonate makes every Kubernetes call of a task in a namespace act
	// as the deployer ServiceAccount of that namespace (DeployerAccount);
	// false runs them with helm-service's own identity (trusted charts and
	// triggers only).
	Impersonate bool `envconfig:"IMPERSONATE" default:"true"`
	// DeployerAccount is the ServiceAccount tasks act as in each namespace;
	// helm-service creates it in the namespaces it creates, bound to the
	// ClusterRole DeployerRole.
	DeployerAccount string `envconfig:"DEPLOYER_SERVICE_ACCOUNT" default:"helm-service-deployer"`
	// DeployerRole is the ClusterRole the deployer's RoleBinding refers to
	// (installed by the chart).
	DeployerRole string `envconfig:"DEPLOYER_ROLE" default:"helm-service-deployer"`
}

func (c Cluster) validate() error {
	if c.KubeQPS <= 0 || c.KubeBurst < 1 {
		return fmt.Errorf("KUBE_QPS and KUBE_BURST must be positive, got %v and %d", c.KubeQPS, c.KubeBurst)
	}
	for _, v := range []struct{ name, value string }{{"DEPLOYER_SERVICE_ACCOUNT", c.DeployerAccount}, {"DEPLOYER_ROLE", c.DeployerRole}} {
		if errs := validation.IsDNS1123Subdomain(v.value); len(errs) > 0 {
			return fmt.Errorf("%s=%q is not a valid Kubernetes name (%s): write a lower-case name like helm-service-deployer, or unset it for the default", v.name, v.value, strings.Join(errs, "; "))
		}
	}
	return nil
}

// Namespaces is where services go: the namespace template, the
// namespaces tasks may touch, the labels of the ones helm-service creates
// and the cluster-scoped kinds a release may hold besides.
type Namespaces struct {
	// Allowed are the namespaces tasks may deploy to: globs, "!"
	// excludes. Unset, Load makes it allowlist.Default(Own).
	Allowed AllowedNamespaces `envconfig:"ALLOWED_NAMESPACES"`
	// Template is the Go text/template of a service's namespace, over
	// Project, Stage, Service, Branch (the trigger's label "branch") and
	// Labels (the trigger's labels). The result is made a valid namespace
	// name (see kube.SanitizeNamespace).
	Template NamespaceTemplate `envconfig:"NAMESPACE_TEMPLATE" default:"{{.Project}}-{{.Stage}}"`
	// Labels go on every namespace helm-service creates.
	Labels NamespaceLabels `envconfig:"NAMESPACE_LABELS" default:"pod-security.kubernetes.io/enforce=baseline"`
	// ClusterKinds are the cluster-scoped kinds a release may hold; every
	// other cluster-scoped object, and every object outside the release's
	// namespace, is refused. Empty allows none.
	ClusterKinds ClusterKinds `envconfig:"ALLOWED_CLUSTER_KINDS"`
	// Own is helm-service's namespace; unset, Load reads the service
	// account's namespace when running in a cluster.
	Own string `envconfig:"POD_NAMESPACE"`
	// AdoptNamespaces are the existing namespaces a trigger may take over
	// although helm-service did not create them for its project and
	// stage: globs over the namespace's name, "!" excludes; empty adopts
	// none.
	AdoptNamespaces AdoptNamespaces `envconfig:"ADOPT_NAMESPACES"`
	// AdoptReleases are the existing Helm releases a trigger may take over
	// although their records do not name its project, stage and service:
	// globs over <namespace>/<release>, "!" excludes; empty adopts none.
	AdoptReleases AdoptReleases `envconfig:"ADOPT_RELEASES"`
}
