package config

import "fmt"

// Cluster is how helm-service talks to the Kubernetes API server. The
// cluster itself is found the usual way (kube.LoadConfig).
type Cluster struct {
	// KubeQPS and KubeBurst limit the requests per second each Kubernetes
	// client sends (client-go's own defaults are 5 and 10).
	KubeQPS   float32 `envconfig:"KUBE_QPS" default:"50"`
	KubeBurst int     `envconfig:"KUBE_BURST" default:"100"`
}

func (c Cluster) validate() error {
	if c.KubeQPS <= 0 || c.KubeBurst < 1 {
		return fmt.Errorf("KUBE_QPS and KUBE_BURST must be positive, got %v and %d", c.KubeQPS, c.KubeBurst)
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
}
