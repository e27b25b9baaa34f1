package helm

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/rest"
)

// discoveryServer serves the discovery of a cluster with core v1 and
// apps/v1, and example.com/v1 (kind Widget) once widgets is set; it counts
// the requests for each path.
type discoveryServer struct {
	*httptest.Server
	mu      sync.Mutex
	hits    map[string]int
	widgets bool
}

func newDiscoveryServer(t *testing.T) *discoveryServer {
	s := &discoveryServer{hits: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.hits[r.URL.Path]++
		widgets := s.widgets
		s.mu.Unlock()
		groups := []any{map[string]any{"name": "apps", "versions": []any{map[string]any{"groupVersion": "apps/v1", "version": "v1"}},
			"preferredVersion": map[string]any{"groupVersion": "apps/v1", "version": "v1"}}}
		if widgets {
			groups = append(groups, map[string]any{"name": "example.com", "versions": []any{map[string]any{"groupVersion": "example.com/v1", "version": "v1"}},
				"preferredVersion": map[string]any{"groupVersion": "example.com/v1", "version": "v1"}})
		}
		resources := func(gv string, kinds ...string) any {
			var rs []any
			for _, k := range kinds {
				rs = append(rs, map[string]any{"name": strings.ToLower(k) + "s", "singularName": strings.ToLower(k), "namespaced": true, "kind": k, "verbs": []string{"get", "create"}})
			}
			return map[string]any{"kind": "APIResourceList", "groupVersion": gv, "resources": rs}
		}
		var body any
		switch r.URL.Path {
		case "/version":
			body = map[string]any{"major": "1", "minor": "36", "gitVersion": "v1.36.3"}
		case "/api":
			body = map[string]any{"kind": "APIVersions", "versions": []string{"v1"}}
		case "/apis":
			body = map[string]any{"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}
		case "/api/v1":
			body = resources("v1", "ConfigMap")
		case "/apis/apps/v1":
			body = resources("apps/v1", "Deployment")
		case "/apis/example.com/v1":
			if !widgets {
				http.NotFound(w, r)
				return
			}
			body = resources("example.com/v1", "Widget")
		default:
			http.NotFound(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(body)
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *discoveryServer) count(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

func (s *discoveryServer) serveWidgets() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.widgets = true
}

// One read of the cluster's capabilities serves every action for
// capabilitiesTTL; each gets a copy of its own; invalidate makes the next
// action read them anew.
func TestCapabilitiesAreSharedForTheirTTL(t *testing.T) {
	srv := newDiscoveryServer(t)
	d := newClusterDiscovery(&rest.Config{Host: srv.URL})
	t0 := time.Now()
	logged := func(string, ...any) {}

	first, err := d.capabilities(t0, logged)
	if err != nil {
		t.Fatal(err)
	}
	if !first.APIVersions.Has("apps/v1") || first.KubeVersion.Version != "v1.36.3" {
		t.Fatalf("capabilities = %+v, want apps/v1 and v1.36.3", first)
	}
	first.APIVersions = append(first.APIVersions, "changed.by/caller")
	second, err := d.capabilities(t0.Add(capabilitiesTTL-time.Second), logged)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.count("/version"); n != 1 {
		t.Errorf("two actions within the TTL read the server version %d times, want 1", n)
	}
	if second.APIVersions.Has("changed.by/caller") {
		t.Error("one action's change to its capabilities reached the next action")
	}

	srv.serveWidgets()
	third, err := d.capabilities(t0.Add(capabilitiesTTL), logged)
	if err != nil {
		t.Fatal(err)
	}
	if n := srv.count("/version"); n != 2 || !third.APIVersions.Has("example.com/v1") {
		t.Errorf("after the TTL: %d reads of the version (want 2), example.com/v1 seen: %v", n, third.APIVersions.Has("example.com/v1"))
	}

	d.invalidate()
	if _, err := d.capabilities(t0.Add(capabilitiesTTL+time.Second), logged); err != nil {
		t.Fatal(err)
	}
	if n := srv.count("/version"); n != 3 {
		t.Errorf("after invalidate: %d reads of the version, want 3", n)
	}
}

// A chart with CRDs of its own keeps Helm's own read of the capabilities,
// after its CRDs are applied; any other gets the shared ones.
func TestShareCapabilitiesLeavesChartsWithCRDsToHelm(t *testing.T) {
	srv := newDiscoveryServer(t)
	c := NewClient(&rest.Config{Host: srv.URL}, nil, nil)
	getter := newRESTClientGetter(c.restConfig, "shop-dev", "", newClusterDiscovery(c.restConfig))

	plain := &chart.Chart{Metadata: &chart.Metadata{Name: "carts"}}
	cfg := &action.Configuration{RESTClientGetter: getter, Log: func(string, ...any) {}}
	if err := c.shareCapabilities(cfg, plain); err != nil {
		t.Fatal(err)
	}
	if cfg.Capabilities == nil || !cfg.Capabilities.APIVersions.Has("apps/v1") {
		t.Fatalf("a chart without CRDs got capabilities %+v, want the shared ones", cfg.Capabilities)
	}

	withCRDs := &chart.Chart{Metadata: &chart.Metadata{Name: "widgets"}, Files: []*chart.File{{Name: "crds/widget.yaml", Data: []byte("kind: CustomResourceDefinition")}}}
	cfg = &action.Configuration{RESTClientGetter: getter, Log: func(string, ...any) {}}
	if err := c.shareCapabilities(cfg, withCRDs); err != nil {
		t.Fatal(err)
	}
	if cfg.Capabilities != nil {
		t.Error("a chart with CRDs got the shared capabilities; Helm must read them after applying its CRDs")
	}
}

// The shared REST mapper maps a kind the cluster began to serve after
// discovery was read, reading discovery again at most once per
// mapperRefreshInterval.
func TestRefreshingMapperFindsNewKinds(t *testing.T) {
	srv := newDiscoveryServer(t)
	d := newClusterDiscovery(&rest.Config{Host: srv.URL})
	now := time.Now()
	d.now = func() time.Time { return now }
	d.init()
	if d.err != nil {
		t.Fatal(d.err)
	}
	widget := schema.GroupKind{Group: "example.com", Kind: "Widget"}
	if _, err := d.mapper.RESTMapping(schema.GroupKind{Group: "apps", Kind: "Deployment"}, "v1"); err != nil {
		t.Fatal(err)
	}
	srv.serveWidgets()
	m, err := d.mapper.RESTMapping(widget, "v1")
	if err != nil {
		t.Fatalf("a kind served since discovery was read: %v", err)
	}
	if m.Resource.Resource != "widgets" {
		t.Errorf("Widget maps to %v", m.Resource)
	}
	reads := srv.count("/apis")
	if _, err := d.mapper.RESTMapping(schema.GroupKind{Group: "example.com", Kind: "Gadget"}, "v1"); err == nil {
		t.Fatal("a kind nobody serves was mapped")
	}
	if n := srv.count("/apis"); n != reads {
		t.Errorf("an unknown kind within %s of the last refresh read discovery again (%d reads of /apis, had %d)", mapperRefreshInterval, n, reads)
	}
	now = now.Add(mapperRefreshInterval)
	if _, err := d.mapper.RESTMapping(schema.GroupKind{Group: "example.com", Kind: "Gadget"}, "v1"); err == nil {
		t.Fatal("a kind nobody serves was mapped")
	}
	if n := srv.count("/apis"); n <= reads {
		t.Errorf("an unknown kind %s after the last refresh did not read discovery again", mapperRefreshInterval)
	}
}
