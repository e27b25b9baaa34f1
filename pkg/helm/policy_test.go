package helm

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/kube"
	kubefake "helm.sh/helm/v3/pkg/kube/fake"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	helmtime "helm.sh/helm/v3/pkg/time"
	"k8s.io/apimachinery/pkg/api/meta"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/discovery"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// fakeMapper knows the scope of the kinds the tests use, as a cluster's
// discovery would tell it (client-go's discovery mapper also maps "List"
// of every group version, as cluster-scoped).
func fakeMapper() meta.RESTMapper {
	m := meta.NewDefaultRESTMapper(nil)
	for _, k := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "ConfigMap"},
		{Version: "v1", Kind: "Service"},
		{Group: "apps", Version: "v1", Kind: "Deployment"},
		{Group: "batch", Version: "v1", Kind: "Job"},
	} {
		m.Add(k, meta.RESTScopeNamespace)
	}
	for _, k := range []schema.GroupVersionKind{
		{Version: "v1", Kind: "Namespace"},
		{Version: "v1", Kind: "List"},
		{Group: "rbac.authorization.k8s.io", Version: "v1", Kind: "ClusterRole"},
		{Group: "apiextensions.k8s.io", Version: "v1", Kind: "CustomResourceDefinition"},
	} {
		m.Add(k, meta.RESTScopeRoot)
	}
	return m
}

// mapperGetter gives Helm's kube client a REST mapper and a server that
// has no object at all (Helm looks for existing ones before an install).
type mapperGetter struct {
	namespace string
	server    string
}

func (g mapperGetter) ToRESTConfig() (*rest.Config, error) {
	return &rest.Config{Host: g.server}, nil
}

// emptyServer answers every request with 404 Not Found.
func emptyServer(t *testing.T) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusNotFound)
		_, _ = io.WriteString(w, `{"kind":"Status","apiVersion":"v1","status":"Failure","reason":"NotFound","code":404}`)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func (g mapperGetter) ToDiscoveryClient() (discovery.CachedDiscoveryInterface, error) {
	return nil, errors.New("no discovery in this test")
}

func (g mapperGetter) ToRESTMapper() (meta.RESTMapper, error) { return fakeMapper(), nil }

func (g mapperGetter) ToRawKubeConfigLoader() clientcmd.ClientConfig {
	return clientcmd.NewDefaultClientConfig(*clientcmdapi.NewConfig(), &clientcmd.ConfigOverrides{
		Context: clientcmdapi.Context{Namespace: g.namespace},
	})
}

// builtKubeClient applies nothing (it prints what it would apply, delete
// or wait on to Out) but builds manifests with Helm's real kube builder.
type builtKubeClient struct {
	*kubefake.FailingKubeClient
	builder *kube.Client
}

func (c builtKubeClient) Build(r io.Reader, _ bool) (kube.ResourceList, error) {
	return c.builder.Build(r, false)
}

// policyClient is a Client on namespace "ns" whose records are in memory
// and whose manifests are built by Helm's builder; touched collects what
// it applied, deleted or waited on.
func policyClient(t *testing.T, allowed ...string) (c *Client, cfg *action.Configuration, touched *bytes.Buffer) {
	t.Helper()
	touched = new(bytes.Buffer)
	builder := kube.New(mapperGetter{namespace: "ns", server: emptyServer(t)})
	builder.Namespace = "ns"
	cfg = &action.Configuration{
		Releases: storage.Init(driver.NewMemory()),
		KubeClient: builtKubeClient{
			FailingKubeClient: &kubefake.FailingKubeClient{PrintingKubeClient: kubefake.PrintingKubeClient{Out: touched}},
			builder:           builder,
		},
		Capabilities: chartutil.DefaultCapabilities,
		Log:          func(string, ...any) {},
	}
	kinds, err := ParseClusterKinds(allowed)
	if err != nil {
		t.Fatal(err)
	}
	c = NewClientOn(func(context.Context, string) (*action.Configuration, error) { return cfg, nil }, slog.New(slog.DiscardHandler))
	c.SetAllowedClusterKinds(kinds)
	return c, cfg, touched
}

// policyChart is a chart of the given templates.
func policyChart(templates map[string]string) *chart.Chart {
	ch := &chart.Chart{Metadata: &chart.Metadata{APIVersion: "v2", Name: "web", Version: "0.1.0"}}
	for name, data := range templates {
		ch.Templates = append(ch.Templates, &chart.File{Name: "templates/" + name, Data: []byte(data)})
	}
	return ch
}

const (
	ownConfigMap = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: own\ndata:\n  a: b\n"
	foreignCM    = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: planted\n  namespace: kube-system\n"
	foreignHook  = "apiVersion: batch/v1\nkind: Job\nmetadata:\n  name: hook\n  namespace: kube-system\n  annotations:\n    helm.sh/hook: pre-install\nspec:\n  template:\n    spec:\n      restartPolicy: Never\n      containers:\n        - name: c\n          image: busybox\n"
	clusterRole  = "apiVersion: rbac.authorization.k8s.io/v1\nkind: ClusterRole\nmetadata:\n  name: everything\nrules: []\n"
	listOfRole   = "apiVersion: v1\nkind: List\nitems:\n  - apiVersion: rbac.authorization.k8s.io/v1\n    kind: ClusterRole\n    metadata:\n      name: listed\n    rules: []\n"
)

// TestInstallRefusesObjectsOutsideItsNamespace: a chart holding an object
// in another namespace, a hook in another namespace, a cluster-scoped
// object, or one inside a kind: List, is refused before anything is
// applied and before a release record is written.
func TestInstallRefusesObjectsOutsideItsNamespace(t *testing.T) {
	for _, tc := range []struct {
		name      string
		templates map[string]string
		allowed   []string
		want      *PolicyError // nil: installed
	}{
		{"own namespace", map[string]string{"cm.yaml": ownConfigMap}, nil, nil},
		{"configmap elsewhere", map[string]string{"cm.yaml": ownConfigMap, "planted.yaml": foreignCM}, nil,
			&PolicyError{Kind: "ConfigMap", Namespace: "kube-system", Name: "planted", Rule: RuleOtherNamespace, ReleaseNamespace: "ns", Source: "revision 1 of release ns/web"}},
		{"hook elsewhere", map[string]string{"cm.yaml": ownConfigMap, "hook.yaml": foreignHook}, nil,
			&PolicyError{Kind: "Job", Group: "batch", Namespace: "kube-system", Name: "hook", Rule: RuleOtherNamespace, ReleaseNamespace: "ns", Source: "hook hook (web/templates/hook.yaml) of revision 1 of release ns/web"}},
		{"cluster role", map[string]string{"cm.yaml": ownConfigMap, "role.yaml": clusterRole}, nil,
			&PolicyError{Kind: "ClusterRole", Group: "rbac.authorization.k8s.io", Name: "everything", Rule: RuleClusterScoped, ReleaseNamespace: "ns", Source: "the objects Helm built from the release's manifest or hooks"}},
		{"cluster role in a list", map[string]string{"cm.yaml": ownConfigMap, "list.yaml": listOfRole}, nil,
			&PolicyError{Kind: "ClusterRole", Group: "rbac.authorization.k8s.io", Name: "listed", Rule: RuleClusterScoped, ReleaseNamespace: "ns", Source: "revision 1 of release ns/web"}},
		{"cluster role allowed", map[string]string{"cm.yaml": ownConfigMap, "role.yaml": clusterRole}, []string{"ClusterRole.rbac.authorization.k8s.io"}, nil},
		{"another cluster kind allowed", map[string]string{"role.yaml": clusterRole}, []string{"CustomResourceDefinition.apiextensions.k8s.io"},
			&PolicyError{Kind: "ClusterRole", Group: "rbac.authorization.k8s.io", Name: "everything", Rule: RuleClusterScoped, ReleaseNamespace: "ns",
				AllowedClusterKinds: "CustomResourceDefinition.apiextensions.k8s.io", Source: "revision 1 of release ns/web"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, cfg, touched := policyClient(t, tc.allowed...)
			_, err := c.Install(context.Background(), Request{Namespace: "ns", Name: "web", Chart: policyChart(tc.templates), Timeout: time.Minute})
			if tc.want == nil {
				if err != nil {
					t.Fatalf("Install: %v", err)
				}
				return
			}
			var perr *PolicyError
			if !errors.As(err, &perr) {
				t.Fatalf("Install: %v, want a *PolicyError", err)
			}
			// Which of the enforcement points saw it first is Helm's order;
			// what matters is the object and that nothing happened.
			got := *perr
			got.Source, tc.want.Source = "", ""
			if diff := cmp.Diff(*tc.want, got); diff != "" {
				t.Errorf("refusal (-want +got):\n%s\n%v", diff, err)
			}
			if touched.Len() != 0 {
				t.Errorf("applied or deleted before the refusal:\n%s", touched)
			}
			if all, _ := cfg.Releases.ListReleases(); len(all) != 0 {
				t.Errorf("%d release records written, want none", len(all))
			}
		})
	}
}

// TestInstallRefusesCRDFilesOfClusterKinds: Helm applies a chart's crds/
// files before it renders anything; they are checked first.
func TestInstallRefusesCRDFilesOfClusterKinds(t *testing.T) {
	c, cfg, touched := policyClient(t)
	ch := policyChart(map[string]string{"cm.yaml": ownConfigMap})
	ch.Files = append(ch.Files, &chart.File{Name: "crds/role.yaml", Data: []byte(clusterRole)})
	_, err := c.Install(context.Background(), Request{Namespace: "ns", Name: "web", Chart: ch, Timeout: time.Minute})
	var perr *PolicyError
	if !errors.As(err, &perr) {
		t.Fatalf("Install: %v, want a *PolicyError", err)
	}
	want := PolicyError{Kind: "ClusterRole", Group: "rbac.authorization.k8s.io", Name: "everything", Rule: RuleClusterScoped, ReleaseNamespace: "ns", Source: "the chart's CRD file web/crds/role.yaml"}
	if diff := cmp.Diff(want, *perr); diff != "" {
		t.Errorf("refusal (-want +got):\n%s", diff)
	}
	if touched.Len() != 0 {
		t.Errorf("applied before the refusal:\n%s", touched)
	}
	if all, _ := cfg.Releases.ListReleases(); len(all) != 0 {
		t.Errorf("%d release records written, want none", len(all))
	}
}

// forge stores a record helm-service did not write: status, a manifest
// and hooks of the forger's choosing.
func forge(t *testing.T, cfg *action.Configuration, version int, status release.Status, manifest string, hooks ...*release.Hook) {
	t.Helper()
	rel := &release.Release{
		Name: "web", Namespace: "ns", Version: version, Manifest: manifest, Hooks: hooks,
		Chart: policyChart(nil), Config: map[string]any{},
		Info: &release.Info{Status: status, LastDeployed: helmtime.Time{Time: time.Now().Add(-time.Hour)}},
	}
	if err := cfg.Releases.Create(rel); err != nil {
		t.Fatal(err)
	}
}

const victimNamespace = "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: victim\n"

// TestStoredRecordsAreCheckedBeforeTheyAreActedOn: a record listing a
// foreign Namespace (or a hook elsewhere) is not recovered, rolled back
// to, upgraded from or uninstalled: nothing is deleted or applied.
func TestStoredRecordsAreCheckedBeforeTheyAreActedOn(t *testing.T) {
	hook := &release.Hook{Name: "cleanup", Path: "web/templates/cleanup.yaml", Kind: "ConfigMap", Manifest: foreignCM, Events: []release.HookEvent{release.HookPreDelete}}
	for _, tc := range []struct {
		name   string
		forge  func(t *testing.T, cfg *action.Configuration)
		act    func(c *Client) error
		record string
	}{
		{"recover a pending install", func(t *testing.T, cfg *action.Configuration) {
			forge(t, cfg, 1, release.StatusPendingInstall, victimNamespace)
		}, func(c *Client) error {
			_, err := c.Recover(context.Background(), "ns", "web", time.Minute)
			return err
		}, "sh.helm.release.v1.web.v1"},
		{"uninstall", func(t *testing.T, cfg *action.Configuration) {
			forge(t, cfg, 1, release.StatusDeployed, ownConfigMap, hook)
		}, func(c *Client) error { return c.Uninstall(context.Background(), "ns", "web", time.Minute) }, "sh.helm.release.v1.web.v1"},
		{"roll back to a forged revision", func(t *testing.T, cfg *action.Configuration) {
			forge(t, cfg, 1, release.StatusSuperseded, victimNamespace)
			forge(t, cfg, 2, release.StatusFailed, ownConfigMap)
		}, func(c *Client) error {
			_, err := c.Rollback(context.Background(), "ns", "web", time.Minute)
			return err
		}, "sh.helm.release.v1.web.v1"},
		{"recover to a forged revision", func(t *testing.T, cfg *action.Configuration) {
			forge(t, cfg, 1, release.StatusDeployed, victimNamespace)
			forge(t, cfg, 2, release.StatusPendingUpgrade, ownConfigMap)
		}, func(c *Client) error {
			_, err := c.Recover(context.Background(), "ns", "web", time.Minute)
			return err
		}, "sh.helm.release.v1.web.v1"},
		{"upgrade from a forged revision", func(t *testing.T, cfg *action.Configuration) {
			forge(t, cfg, 1, release.StatusDeployed, ownConfigMap+"---\n"+victimNamespace)
		}, func(c *Client) error {
			_, err := c.Upgrade(context.Background(), Request{Namespace: "ns", Name: "web", Chart: policyChart(map[string]string{"cm.yaml": ownConfigMap}), Timeout: time.Minute})
			return err
		}, "sh.helm.release.v1.web.v1"},
		{"upgrade from a forged deployed revision behind a failed one", func(t *testing.T, cfg *action.Configuration) {
			forge(t, cfg, 1, release.StatusDeployed, ownConfigMap+"---\n"+victimNamespace)
			forge(t, cfg, 2, release.StatusFailed, ownConfigMap)
		}, func(c *Client) error {
			_, err := c.Upgrade(context.Background(), Request{Namespace: "ns", Name: "web", Chart: policyChart(map[string]string{"cm.yaml": ownConfigMap}), Timeout: time.Minute})
			return err
		}, "sh.helm.release.v1.web.v1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c, cfg, touched := policyClient(t)
			tc.forge(t, cfg)
			before, _ := cfg.Releases.ListReleases()
			err := tc.act(c)
			var perr *PolicyError
			if !errors.As(err, &perr) {
				t.Fatalf("got %v, want a *PolicyError", err)
			}
			if perr.Record != tc.record {
				t.Errorf("refusal names record %q, want %q: %v", perr.Record, tc.record, err)
			}
			if touched.Len() != 0 {
				t.Errorf("applied or deleted before the refusal:\n%s", touched)
			}
			after, _ := cfg.Releases.ListReleases()
			if diff := cmp.Diff(statuses(before), statuses(after)); diff != "" {
				t.Errorf("records changed (-before +after):\n%s", diff)
			}
		})
	}
}

func statuses(rels []*release.Release) map[int]string {
	m := map[int]string{}
	for _, r := range rels {
		m[r.Version] = r.Info.Status.String()
	}
	return m
}

// TestPolicyErrorSaysWhatOpensIt: the message names the object, the rule
// and the setting.
func TestPolicyErrorSaysWhatOpensIt(t *testing.T) {
	for _, tc := range []struct {
		err  PolicyError
		want string
	}{
		{PolicyError{Kind: "ClusterRole", Group: "rbac.authorization.k8s.io", Name: "everything", Rule: RuleClusterScoped, ReleaseNamespace: "ns", Source: "the chart's manifest"},
			`ClusterRole.rbac.authorization.k8s.io "everything" (cluster-scoped) of the chart's manifest is refused: a release may only hold cluster-scoped objects of the kinds ALLOWED_CLUSTER_KINDS names (empty); remove the object from the chart, or have the operator add ClusterRole.rbac.authorization.k8s.io to ALLOWED_CLUSTER_KINDS`},
		{PolicyError{Kind: "ConfigMap", Namespace: "kube-system", Name: "planted", Rule: RuleOtherNamespace, ReleaseNamespace: "ns", Source: "the chart's manifest", More: 2},
			`ConfigMap "planted" in namespace "kube-system" of the chart's manifest is refused: a release may only hold objects in its own namespace "ns", and no setting opens other namespaces (ALLOWED_CLUSTER_KINDS opens cluster-scoped kinds only); 2 more object(s) refused likewise; fix the chart so that it sets no other metadata.namespace, or deploy that object as a service of the stage whose namespace it belongs to`},
		{PolicyError{Kind: "Namespace", Name: "victim", Rule: RuleClusterScoped, ReleaseNamespace: "ns", Source: "the stored record of release ns/web at revision 1", Record: "sh.helm.release.v1.web.v1", AllowedClusterKinds: "PersistentVolume"},
			`Namespace "victim" (cluster-scoped) of the stored record of release ns/web at revision 1 is refused: a release may only hold cluster-scoped objects of the kinds ALLOWED_CLUSTER_KINDS names (it is PersistentVolume); helm-service does not act on a release record that lists such objects: check who wrote Secret sh.helm.release.v1.web.v1 in namespace ns, and delete the record if it is not what was deployed`},
	} {
		if diff := cmp.Diff(tc.want, tc.err.Error()); diff != "" {
			t.Errorf("message (-want +got):\n%s", diff)
		}
	}
}

func TestParseClusterKinds(t *testing.T) {
	for _, tc := range []struct {
		in      []string
		want    string
		wantErr bool
	}{
		{nil, "", false},
		{[]string{" ", ""}, "", false},
		{[]string{"PersistentVolume", "CustomResourceDefinition.apiextensions.k8s.io"}, "CustomResourceDefinition.apiextensions.k8s.io,PersistentVolume", false},
		{[]string{"clusterroles.rbac.authorization.k8s.io"}, "", true},
		{[]string{"rbac.authorization.k8s.io/ClusterRole"}, "", true},
		{[]string{"*"}, "", true},
		{[]string{"ClusterRole."}, "", true},
	} {
		got, err := ParseClusterKinds(tc.in)
		if (err != nil) != tc.wantErr || got.String() != tc.want {
			t.Errorf("ParseClusterKinds(%q) = %q, %v; want %q, error %v", tc.in, got.String(), err, tc.want, tc.wantErr)
		}
	}
	k, _ := ParseClusterKinds([]string{"PersistentVolume", "ClusterRole.rbac.authorization.k8s.io"})
	for gk, want := range map[schema.GroupKind]bool{
		{Kind: "PersistentVolume"}:                                       true,
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRole"}:        true,
		{Group: "rbac.authorization.k8s.io", Kind: "ClusterRoleBinding"}: false,
		{Kind: "Namespace"}:                                              false,
	} {
		if k.Allows(gk) != want {
			t.Errorf("Allows(%v) = %v, want %v", gk, !want, want)
		}
	}
}

// TestKubeClientRefusesToBuildWhatThePolicyRefuses: whatever path leads
// Helm to build a list of objects to apply or delete, the kube client of a
// cluster's configuration refuses one that breaks the policy.
func TestKubeClientRefusesToBuildWhatThePolicyRefuses(t *testing.T) {
	kc := kube.New(mapperGetter{namespace: "ns", server: emptyServer(t)})
	kc.Namespace = "ns"
	inner := &waitingClient{Client: kc}
	c := NewClientOn(func(context.Context, string) (*action.Configuration, error) {
		return &action.Configuration{Releases: storage.Init(driver.NewMemory()), KubeClient: inner, Log: func(string, ...any) {}}, nil
	}, slog.New(slog.DiscardHandler))
	cfg, err := c.newConfig(context.Background(), "ns")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		manifest string
		want     []string // names built; nil: refused
	}{
		{ownConfigMap, []string{"own"}},
		{ownConfigMap + "---\n" + foreignCM, nil},
		{listOfRole, nil},
		{victimNamespace, nil},
	} {
		list, err := cfg.KubeClient.Build(bytes.NewBufferString(tc.manifest), false)
		var perr *PolicyError
		if tc.want == nil {
			if !errors.As(err, &perr) {
				t.Errorf("Build(%q) = %d objects, %v; want a *PolicyError", tc.manifest, len(list), err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("Build(%q): %v", tc.manifest, err)
		}
		var names []string
		for _, info := range list {
			names = append(names, info.Name)
		}
		if diff := cmp.Diff(tc.want, names); diff != "" {
			t.Errorf("Build(%q) (-want +got):\n%s", tc.manifest, diff)
		}
	}
}
