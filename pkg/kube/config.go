// Package kube talks to the Kubernetes API with client-go: finding the
// cluster, preparing namespaces and explaining why workloads are not ready.
package kube

import (
	"errors"
	"fmt"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// ErrNoCluster means no Kubernetes configuration was found at all.
var ErrNoCluster = errors.New("no Kubernetes cluster configured: run helm-service inside a cluster, or set KUBECONFIG (or write ~/.kube/config)")

// LoadConfig finds the cluster the usual way: the in-cluster service
// account first, then $KUBECONFIG, then ~/.kube/config. It returns where the
// configuration came from, for the log.
func LoadConfig() (*rest.Config, string, error) {
	if cfg, err := rest.InClusterConfig(); err == nil {
		return cfg, "in-cluster service account", nil
	}
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	loader := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{})
	cfg, err := loader.ClientConfig()
	if err != nil {
		if clientcmd.IsEmptyConfig(err) {
			return nil, "", ErrNoCluster
		}
		return nil, "", fmt.Errorf("load kubeconfig %v: %w", rules.GetLoadingPrecedence(), err)
	}
	return cfg, fmt.Sprintf("kubeconfig %v", rules.GetLoadingPrecedence()), nil
}
