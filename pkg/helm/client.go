// Package helm runs Helm actions through the Helm v3 SDK, in process. It is
// the only package that imports Helm's action API. Its verbs (Install,
// Upgrade, Recover, Rollback, Uninstall, and Status, Get and Find to read
// releases) each do one thing and do not decide whether to act: package
// reconcile reads a release's status and picks the verb.
package helm

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/kube"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	"k8s.io/client-go/kubernetes"
	corev1client "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/rest"

	"github.com/helm-service/helm-service/pkg/tasklog"
)

// storageDriver keeps release records in Secrets, Helm's default.
const storageDriver = "secret"

// Client runs Helm actions against one cluster. A Helm action
// configuration is not safe for concurrent use, so every action gets its
// own; what is expensive to build (discovery, the REST mapper and the
// validation schema) is built once and shared by all of them.
type Client struct {
	restConfig *rest.Config
	clientset  kubernetes.Interface
	log        *slog.Logger

	// newConfig returns a fresh action configuration for a namespace.
	// Its logs and the spans of its waits go to the task in ctx.
	newConfig ConfigSource
	now       func() time.Time
	observer  Observer
	failFast  bool
	// clusterKinds are the cluster-scoped kinds a release may hold
	// (confine.go).
	clusterKinds ClusterKinds

	// identity says whom the actions in a namespace act as; nil: the
	// client's own identity everywhere.
	identity Identity
	// maxHistory bounds the revisions kept per release; 0 keeps every one.
	maxHistory int

	mu        sync.Mutex
	discovery *clusterDiscovery // built with the first configuration, as the client itself
	validator *sharedValidator  // likewise
}

// Identity returns the user the actions in namespace impersonate, "" for
// the client's own identity, or an error when there is nobody to act as
// there (which the action then fails with). AllNamespaces, a read of the
// release records of every namespace, always uses the client's own.
type Identity func(ctx context.Context, namespace string) (string, error)

// SetIdentity makes every action in a namespace act as the user identity
// returns for it (see Identity).
func (c *Client) SetIdentity(identity Identity) { c.identity = identity }

// NewClient returns a Client for the cluster restConfig points at.
func NewClient(restConfig *rest.Config, clientset kubernetes.Interface, log *slog.Logger) *Client {
	c := &Client{
		restConfig: restConfig,
		clientset:  clientset,
		log:        log,
		now:        time.Now,
		observer:   noObserver{},
		failFast:   true,
		maxHistory: DefaultMaxHistory,
	}
	c.newConfig = c.confined(c.clusterConfig)
	return c
}

// ConfigSource returns a fresh Helm action configuration for a namespace:
// where its release records are stored and how its objects are applied.
type ConfigSource func(ctx context.Context, namespace string) (*action.Configuration, error)

// NewClientOn returns a Client whose actions run on the configurations
// configs returns instead of on a cluster's: release records in memory and
// a fake Kubernetes client, say, to run the real actions without a cluster.
// The object policy (confine.go) applies to them as to a cluster's.
// Readiness diagnostics need a cluster and are left out.
func NewClientOn(configs ConfigSource, log *slog.Logger) *Client {
	c := NewClient(nil, nil, log)
	c.newConfig = c.confined(configs)
	return c
}

// SetFailFast sets whether a wait ends as soon as a pod of the release
// shows a failure that will not pass by itself (on by default).
func (c *Client) SetFailFast(on bool) { c.failFast = on }

// DefaultMaxHistory is how many revisions of a release an upgrade or a
// rollback keeps unless SetMaxHistory says otherwise: as `helm upgrade
// --history-max` does by default (Helm's SDK keeps every revision).
const DefaultMaxHistory = 10

// SetMaxHistory sets how many revisions of a release an upgrade or a
// rollback keeps, the oldest removed first; 0 keeps every revision.
func (c *Client) SetMaxHistory(n int) { c.maxHistory = n }

// clusterConfig builds an action configuration that talks to the cluster.
func (c *Client) clusterConfig(ctx context.Context, namespace string) (*action.Configuration, error) {
	var user string
	if c.identity != nil && namespace != AllNamespaces {
		var err error
		if user, err = c.identity(ctx, namespace); err != nil {
			return nil, err
		}
	}
	c.mu.Lock()
	if c.discovery == nil {
		// Discovery and the schemas are read as helm-service itself.
		c.discovery = newClusterDiscovery(c.restConfig)
		c.validator = newSharedValidator(newRESTClientGetter(c.restConfig, AllNamespaces, "", c.discovery), validatorTTL, c.now)
	}
	shared, validator := c.discovery, c.validator
	c.mu.Unlock()
	getter := newRESTClientGetter(c.restConfig, namespace, user, shared)
	getter.reads = new(updateReads)

	cfg := new(action.Configuration)
	log := tasklog.From(ctx, c.log).With("namespace", namespace)
	debug := func(format string, v ...any) { log.Debug(fmt.Sprintf(format, v...), "source", "helm") }
	if err := cfg.Init(getter, namespace, storageDriver, debug); err != nil {
		return nil, fmt.Errorf("set up Helm for namespace %s: %w", namespace, err)
	}
	if memo := recordMemoFrom(ctx); memo != nil && namespace != AllNamespaces {
		rc, err := getter.ToRESTConfig()
		if err == nil {
			var core *corev1client.CoreV1Client
			if core, err = corev1client.NewForConfig(rc); err == nil {
				d := driver.NewSecrets(memo.secrets(namespace, core.Secrets(namespace)))
				d.Log = debug
				cfg.Releases = storage.Init(d)
			}
		}
		if err != nil {
			return nil, fmt.Errorf("set up Helm's release storage for namespace %s: %w", namespace, err)
		}
	}
	if kc, ok := cfg.KubeClient.(*kube.Client); ok {
		kc.Factory = newActionFactory(kc.Factory, validator)
		cfg.KubeClient = &waitingClient{Client: kc, log: debug, ctx: ctx, observer: c.observer, failFast: c.failFast, reads: getter.reads}
	}
	return cfg, nil
}
