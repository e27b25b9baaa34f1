// Package helm runs Helm actions through the Helm v3 SDK, in process. It is
// the only package that imports Helm's action API.
package helm

import (
	"fmt"
	"log/slog"
	"sync"

	"helm.sh/helm/v3/pkg/action"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
)

// storageDriver keeps release records in Secrets, Helm's default.
const storageDriver = "secret"

// Client runs Helm actions against one cluster. It keeps one Helm action
// configuration per namespace, shared by every task in that namespace.
type Client struct {
	restConfig *rest.Config
	clientset  kubernetes.Interface
	log        *slog.Logger

	mu      sync.Mutex
	configs map[string]*action.Configuration
}

// NewClient returns a Client for the cluster restConfig points at.
func NewClient(restConfig *rest.Config, clientset kubernetes.Interface, log *slog.Logger) *Client {
	return &Client{
		restConfig: restConfig,
		clientset:  clientset,
		log:        log,
		configs:    make(map[string]*action.Configuration),
	}
}

// actionConfig returns the Helm action configuration of a namespace.
func (c *Client) actionConfig(namespace string) (*action.Configuration, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if cfg, ok := c.configs[namespace]; ok {
		return cfg, nil
	}
	cfg := new(action.Configuration)
	log := c.log.With("namespace", namespace)
	debug := func(format string, v ...any) { log.Debug(fmt.Sprintf(format, v...), "source", "helm") }
	if err := cfg.Init(newRESTClientGetter(c.restConfig, namespace), namespace, storageDriver, debug); err != nil {
		return nil, fmt.Errorf("set up Helm for namespace %s: %w", namespace, err)
	}
	c.configs[namespace] = cfg
	return cfg, nil
}
