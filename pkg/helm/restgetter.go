package helm

import (
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/chartutil"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/discovery/cached/memory"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/restmapper"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"

	kubeinfo "github.com/helm-service/helm-service/pkg/kube"
)

// clusterDiscovery is a cluster's discovery, cached in memory, and the
// REST mapper built on it. Which kinds a cluster serves depends neither on
// the namespace nor on whom an action acts as (discovery is open to every
// authenticated user), so one serves every action of a Client: a cache per
// namespace held a copy of every API group's resources for each namespace
// the service had deployed to.
type clusterDiscovery struct {
	config *rest.Config
	now    func() time.Time

	once      sync.Once
	discovery discovery.CachedDiscoveryInterface
	mapper    meta.RESTMapper
	err       error

	mu              sync.Mutex
	caps            *chartutil.Capabilities // shared by installs and upgrades (capabilities.go)
	capsRead        time.Time
	mapperRefreshed time.Time // when an unknown kind last made the mapper read discovery
}

func newClusterDiscovery(config *rest.Config) *clusterDiscovery {
	return &clusterDiscovery{config: config, now: time.Now}
}

func (d *clusterDiscovery) init() {
	d.once.Do(func() {
		dc, err := discovery.NewDiscoveryClientForConfig(rest.CopyConfig(d.config))
		if err != nil {
			d.err = err
			return
		}
		d.discovery = memory.NewMemCacheClient(dc)
		mapper := refreshingMapper{ResettableRESTMapper: restmapper.NewDeferredDiscoveryRESTMapper(d.discovery), d: d, now: d.now}
		d.mapper = restmapper.NewShortcutExpander(mapper, d.discovery, nil)
	})
}

// restClientGetter gives Helm clients for one namespace from a rest.Config
// the service already has, with the cluster's shared discovery. With a
// user, every client it gives impersonates that user: render (lookup),
// install, upgrade, rollback, uninstall, wait and the release records
// alike. Discovery is read as the service itself.
type restClientGetter struct {
	config    *rest.Config
	namespace string
	discovery *clusterDiscovery
	// reads, when set, wraps every client's transport (updatereads.go).
	reads *updateReads
}

// newRESTClientGetter returns a getter for namespace acting as user ("" for
// config's own identity) on the discovery shared (nil: a discovery of its
// own, on config).
func newRESTClientGetter(config *rest.Config, namespace, user string, shared *clusterDiscovery) *restClientGetter {
	if shared == nil {
		shared = newClusterDiscovery(config)
	}
	config = rest.CopyConfig(config)
	if user != "" {
		config.Impersonate = rest.ImpersonationConfig{UserName: user}
	}
	return &restClientGetter{config: config, namespace: namespace, discovery: shared}
}

// ToRESTConfig returns the configuration of Helm's clients: its typed
// clients (waits, pods, release records) speak protobuf; its clients of
// unstructured objects set JSON themselves.
func (g *restClientGetter) ToRESTConfig() (*rest.Config, error) {
	config := kubeinfo.Protobuf(g.config)
	if g.reads != nil {
		config.Wrap(g.reads.wrap)
	}
	return config, nil
}

func (g *restClientGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	g.discovery.init()
	return g.discovery.discovery, g.discovery.err
}

func (g *restClientGetter) ToRESTMapper() (meta.RESTMapper, error) {
	g.discovery.init()
	return g.discovery.mapper, g.discovery.err
}

// ToRawKubeConfigLoader returns a loader whose only content is the
// namespace; Helm reads nothing else from it.
func (g *restClientGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(), &clientcmd.ConfigOverrides{
		Context: clientcmdapi.Context{Namespace: g.namespace},
	})
}
