package helm

import (
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/release"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
)

// capabilitiesTTL is how long one read of the cluster's version and API
// versions serves the templates (.Capabilities) of every install and
// upgrade. Helm reads them anew for each action, two discovery requests
// each; a kind the cluster began to serve meanwhile is seen at once all the
// same when helm-service applied it (invalidateAfter), and otherwise after
// at most this long.
const capabilitiesTTL = 30 * time.Second

// mapperRefreshInterval bounds how often a kind the REST mapper does not
// know makes it read discovery again (refreshingMapper).
const mapperRefreshInterval = time.Second

// capabilities returns the cluster's capabilities as Helm's templates see
// them, read as Helm reads them and kept for capabilitiesTTL; each caller
// gets a copy of its own.
func (d *clusterDiscovery) capabilities(now time.Time, log func(string, ...any)) (*chartutil.Capabilities, error) {
	d.init()
	if d.err != nil {
		return nil, d.err
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.caps == nil || now.Sub(d.capsRead) >= capabilitiesTTL {
		caps, err := readCapabilities(d.discovery, log)
		if err != nil {
			return nil, err
		}
		d.caps, d.capsRead = caps, now
	}
	c := *d.caps
	c.APIVersions = slices.Clone(d.caps.APIVersions)
	return &c, nil
}

// readCapabilities is what Helm's action configuration does when it has
// no capabilities: discovery read anew, the server's version and every
// API version it serves (a group whose discovery fails, such as an
// APIService without a backend, is left out with a warning).
func readCapabilities(dc discovery.CachedDiscoveryInterface, log func(string, ...any)) (*chartutil.Capabilities, error) {
	dc.Invalidate()
	version, err := dc.ServerVersion()
	if err != nil {
		return nil, fmt.Errorf("could not get server version from Kubernetes: %w", err)
	}
	apiVersions, err := action.GetVersionSet(dc)
	if err != nil {
		if !discovery.IsGroupDiscoveryFailedError(err) {
			return nil, fmt.Errorf("could not get apiVersions from Kubernetes: %w", err)
		}
		log("WARNING: the Kubernetes server has an API group whose discovery fails (an APIService without a backend?); its versions are left out of .Capabilities: %s", err)
	}
	return &chartutil.Capabilities{
		APIVersions: apiVersions,
		KubeVersion: chartutil.KubeVersion{Version: version.GitVersion, Major: version.Major, Minor: version.Minor},
		HelmVersion: chartutil.DefaultCapabilities.HelmVersion,
	}, nil
}

// invalidate makes the next read of capabilities and the next unknown kind
// read discovery anew.
func (d *clusterDiscovery) invalidate() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.caps = nil
	d.mapperRefreshed = time.Time{}
}

// shareCapabilities gives cfg the capabilities every action shares, unless
// ch brings CRDs of its own (crds/): Helm applies those first and must read
// the capabilities after, with the new kinds in. A configuration that is
// not of a cluster (NewClientOn) keeps its own.
func (c *Client) shareCapabilities(cfg *action.Configuration, ch *chart.Chart) error {
	g, ok := cfg.RESTClientGetter.(*restClientGetter)
	if !ok || (ch != nil && len(ch.CRDObjects()) > 0) {
		return nil
	}
	caps, err := g.discovery.capabilities(c.now(), cfg.Log)
	if err != nil {
		return err
	}
	cfg.Capabilities = caps
	return nil
}

// servesNewKinds tells whether a manifest holds objects that make the
// cluster serve new kinds or versions.
func servesNewKinds(manifest string) bool {
	return strings.Contains(manifest, "kind: CustomResourceDefinition") || strings.Contains(manifest, "kind: APIService")
}

// invalidateAfter forgets the shared capabilities when cfg's action applied
// objects that may change them (its chart's CRDs, or CRDs or APIServices
// among its templates), so the next action sees the kinds they add.
func invalidateAfter(cfg *action.Configuration, ch *chart.Chart, rel *release.Release) {
	g, ok := cfg.RESTClientGetter.(*restClientGetter)
	if !ok {
		return
	}
	if (ch != nil && len(ch.CRDObjects()) > 0) || (rel != nil && servesNewKinds(rel.Manifest)) {
		g.discovery.invalidate()
	}
}

// refreshingMapper is the shared REST mapper, which on a kind it does not
// know reads discovery again, at most once per mapperRefreshInterval, and
// asks once more: a CRD made since discovery was read (by another tool, or
// by a release whose capabilities were read before) is mapped all the same.
type refreshingMapper struct {
	meta.ResettableRESTMapper
	d   *clusterDiscovery
	now func() time.Time
}

func (m refreshingMapper) RESTMapping(gk schema.GroupKind, versions ...string) (*meta.RESTMapping, error) {
	mapping, err := m.ResettableRESTMapper.RESTMapping(gk, versions...)
	if meta.IsNoMatchError(err) && m.refresh() {
		mapping, err = m.ResettableRESTMapper.RESTMapping(gk, versions...)
	}
	return mapping, err
}

func (m refreshingMapper) RESTMappings(gk schema.GroupKind, versions ...string) ([]*meta.RESTMapping, error) {
	mappings, err := m.ResettableRESTMapper.RESTMappings(gk, versions...)
	if meta.IsNoMatchError(err) && m.refresh() {
		mappings, err = m.ResettableRESTMapper.RESTMappings(gk, versions...)
	}
	return mappings, err
}

// refresh reads discovery again unless it did less than
// mapperRefreshInterval ago, and tells whether it did.
func (m refreshingMapper) refresh() bool {
	now := m.now()
	m.d.mu.Lock()
	if now.Sub(m.d.mapperRefreshed) < mapperRefreshInterval {
		m.d.mu.Unlock()
		return false
	}
	m.d.mapperRefreshed = now
	m.d.caps = nil // the kinds read now may be news to the templates too
	m.d.mu.Unlock()
	m.d.discovery.Invalidate()
	m.ResettableRESTMapper.Reset()
	return true
}
