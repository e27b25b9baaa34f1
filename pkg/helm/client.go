// Package helm runs Helm actions through the Helm v3 SDK, in process. It is
// the only package that imports Helm's action API.
package helm

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/helm-service/helm-service/pkg/tasklog"
)

// storageDriver keeps release records in Secrets, Helm's default.
const storageDriver = "secret"

// Client runs Helm actions against one cluster. A Helm action
// configuration is not safe for concurrent use, so every action gets its
// own; what is expensive to build (discovery and the REST mapper) is cached
// per namespace and shared.
type Client struct {
	restConfig *rest.Config
	clientset  kubernetes.Interface
	log        *slog.Logger

	// newConfig returns a fresh action configuration for a namespace.
	// Its logs and the spans of its waits go to the task in ctx.
	newConfig func(ctx context.Context, namespace string) (*action.Configuration, error)
	// pendingAge is how old a pending release must be to be recovered.
	pendingAge time.Duration
	now        func() time.Time
	observer   Observer
	failFast   bool

	mu        sync.Mutex
	getters   map[string]*restClientGetter
	validator *sharedValidator // built with the first getter
}

// NewClient returns a Client for the cluster restConfig points at.
func NewClient(restConfig *rest.Config, clientset kubernetes.Interface, log *slog.Logger) *Client {
	c := &Client{
		restConfig: restConfig,
		clientset:  clientset,
		log:        log,
		getters:    make(map[string]*restClientGetter),
		pendingAge: DefaultPendingAge,
		now:        time.Now,
		observer:   noObserver{},
		failFast:   true,
	}
	c.newConfig = c.clusterConfig
	return c
}

// SetPendingAge sets how old a release stuck in a pending state must be
// before Upgrade recovers it.
func (c *Client) SetPendingAge(d time.Duration) { c.pendingAge = d }

// SetFailFast sets whether a wait ends as soon as a pod of the release
// shows a failure that will not pass by itself (on by default).
func (c *Client) SetFailFast(on bool) { c.failFast = on }

// clusterConfig builds an action configuration that talks to the cluster.
func (c *Client) clusterConfig(ctx context.Context, namespace string) (*action.Configuration, error) {
	c.mu.Lock()
	getter, ok := c.getters[namespace]
	if !ok {
		getter = newRESTClientGetter(c.restConfig, namespace)
		c.getters[namespace] = getter
	}
	if c.validator == nil {
		c.validator = newSharedValidator(getter, validatorTTL, c.now)
	}
	validator := c.validator
	c.mu.Unlock()

	cfg := new(action.Configuration)
	log := tasklog.From(ctx, c.log).With("namespace", namespace)
	debug := func(format string, v ...any) { log.Debug(fmt.Sprintf(format, v...), "source", "helm") }
	if err := cfg.Init(getter, namespace, storageDriver, debug); err != nil {
		return nil, fmt.Errorf("set up Helm for namespace %s: %w", namespace, err)
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		kc.Factory = validatorFactory{Factory: kc.Factory, shared: validator}
		cfg.KubeClient = &waitingClient{Client: kc, log: debug, ctx: ctx, observer: c.observer, failFast: c.failFast}
	}
	return cfg, nil
}
