// Package chart checks the Helm chart that installs helm-service: it lints
// it and renders it with the Helm SDK in each RBAC mode, and checks what a
// platform team relies on (least-privilege RBAC, a hardened pod, probes).
package chart

import (
	"fmt"
	"strings"
	"testing"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/chartutil"
	"helm.sh/helm/v3/pkg/lint"
	"helm.sh/helm/v3/pkg/lint/support"
	"helm.sh/helm/v3/pkg/releaseutil"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

const chartPath = "../../chart"

func TestLint(t *testing.T) {
	for _, values := range []map[string]any{
		nil,
		{"rbac": map[string]any{"mode": "namespaced", "namespaces": []any{"team-a"}}},
	} {
		result := lint.All(chartPath, values, "helm-service", false)
		for _, m := range result.Messages {
			if m.Severity >= support.WarningSev {
				t.Errorf("lint %v: %s", values, m)
			}
		}
	}
}

// render renders the chart as `helm template` does.
func render(t *testing.T, values map[string]any) map[string][]string {
	t.Helper()
	ch, err := loader.Load(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = "helm-service", "helm-service"
	install.KubeVersion = &chartutil.KubeVersion{Version: "v1.36.3", Major: "1", Minor: "36"}
	rel, err := install.Run(ch, values)
	if err != nil {
		t.Fatalf("render with %v: %v", values, err)
	}
	byKind := map[string][]string{}
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		var head struct{ Kind string }
		if err := yaml.Unmarshal([]byte(doc), &head); err != nil {
			t.Fatalf("rendered YAML does not parse: %v\n%s", err, doc)
		}
		byKind[head.Kind] = append(byKind[head.Kind], doc)
	}
	return byKind
}

func rulesOf(t *testing.T, docs []string) []rbacv1.PolicyRule {
	t.Helper()
	var rules []rbacv1.PolicyRule
	for _, doc := range docs {
		var role rbacv1.ClusterRole // Role has the same shape
		if err := yaml.UnmarshalStrict([]byte(doc), &role); err != nil {
			t.Fatal(err)
		}
		rules = append(rules, role.Rules...)
	}
	return rules
}

func assertNoWildcards(t *testing.T, rules []rbacv1.PolicyRule) {
	t.Helper()
	for _, r := range rules {
		for _, list := range [][]string{r.Verbs, r.Resources, r.APIGroups} {
			for _, v := range list {
				if strings.Contains(v, "*") {
					t.Errorf("rule %+v uses a wildcard", r)
				}
			}
		}
	}
}

func allows(rules []rbacv1.PolicyRule, group, resource, verb string) bool {
	for _, r := range rules {
		if contains(r.APIGroups, group) && contains(r.Resources, resource) && contains(r.Verbs, verb) {
			return true
		}
	}
	return false
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestClusterWideRBAC(t *testing.T) {
	docs := render(t, nil)
	if len(docs["Role"]) != 0 {
		t.Errorf("clusterWide mode rendered %d Roles", len(docs["Role"]))
	}
	rules := rulesOf(t, docs["ClusterRole"])
	assertNoWildcards(t, rules)
	for _, need := range []struct{ group, resource, verb string }{
		{"", "namespaces", "create"},
		{"", "namespaces", "patch"}, // adopting one (ADOPT_NAMESPACES)
		{"", "secrets", "create"},   // Helm's release records
		{"apps", "deployments", "patch"},
		{"apps", "deployments/scale", "update"},
		{"", "services", "create"},
	} {
		if !allows(rules, need.group, need.resource, need.verb) {
			t.Errorf("ClusterRoles do not allow %s %s/%s", need.verb, need.group, need.resource)
		}
	}
	if len(docs["ClusterRoleBinding"]) != 2 {
		t.Errorf("%d ClusterRoleBindings, want 2", len(docs["ClusterRoleBinding"]))
	}
}

func TestNamespacedRBAC(t *testing.T) {
	docs := render(t, map[string]any{"rbac": map[string]any{"mode": "namespaced", "namespaces": []any{"team-a", "team-b"}}})
	// Per namespace: helm-service's Role and its binding, and the binding
	// of the deployer account to the deployer ClusterRole.
	if len(docs["Role"]) != 2 || len(docs["RoleBinding"]) != 4 || len(docs["ServiceAccount"]) != 3 {
		t.Fatalf("%d Roles, %d RoleBindings and %d ServiceAccounts, want 2, 4 and 3", len(docs["Role"]), len(docs["RoleBinding"]), len(docs["ServiceAccount"]))
	}
	// The deployer ClusterRole is bound only in the namespaces, by
	// RoleBindings: what is granted cluster-wide is what
	// ClusterRoleBindings bind.
	clusterRules := boundClusterRules(t, docs)
	if allows(clusterRules, "", "namespaces", "create") || allows(clusterRules, "apps", "deployments", "create") {
		t.Errorf("namespaced mode grants cluster-wide writes: %+v", clusterRules)
	}
	assertNoWildcards(t, append(clusterRules, rulesOf(t, docs["Role"])...))
}

func TestRejectsBadRBACValues(t *testing.T) {
	ch, err := loader.Load(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	for name, values := range map[string]map[string]any{
		"wildcard extra rule":      {"rbac": map[string]any{"extraRules": []any{map[string]any{"apiGroups": []any{""}, "resources": []any{"pods"}, "verbs": []any{"*"}}}}},
		"namespaced without names": {"rbac": map[string]any{"mode": "namespaced"}},
		"unknown mode":             {"rbac": map[string]any{"mode": "everything"}},
	} {
		install := action.NewInstall(&action.Configuration{})
		install.DryRun, install.ClientOnly, install.ReleaseName = true, true, "helm-service"
		if _, err := install.Run(ch, values); err == nil {
			t.Errorf("%s: rendered without error", name)
		}
	}
}

func TestPodIsHardened(t *testing.T) {
	docs := render(t, map[string]any{"config": map[string]any{"shutdownGrace": "60s"}})
	if len(docs["Deployment"]) != 1 {
		t.Fatalf("%d Deployments", len(docs["Deployment"]))
	}
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(docs["Deployment"][0]), &d); err != nil {
		t.Fatal(err)
	}
	pod := d.Spec.Template.Spec
	c := pod.Containers[0]
	if pod.SecurityContext == nil || pod.SecurityContext.RunAsNonRoot == nil || !*pod.SecurityContext.RunAsNonRoot {
		t.Error("pod does not run as non-root")
	}
	if c.SecurityContext == nil || c.SecurityContext.ReadOnlyRootFilesystem == nil || !*c.SecurityContext.ReadOnlyRootFilesystem {
		t.Error("root filesystem is writable")
	}
	if c.Resources.Requests.Cpu().IsZero() || c.Resources.Limits.Memory().IsZero() {
		t.Error("no resource requests/limits")
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" || c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("probes are not on /healthz and /readyz")
	}
	if pod.TerminationGracePeriodSeconds == nil || *pod.TerminationGracePeriodSeconds <= 60+5 {
		t.Errorf("terminationGracePeriodSeconds = %v, want more than SHUTDOWN_GRACE (60s) plus the preStop pause", pod.TerminationGracePeriodSeconds)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if env["SHUTDOWN_GRACE"] != "60s" || env["CHART_DIR"] != "/charts" || env["HTTP_ADDR"] != ":8080" {
		t.Errorf("env = %v", env)
	}
}

func TestServiceMonitorOff(t *testing.T) {
	docs := render(t, nil)
	if n := len(docs["ServiceMonitor"]); n != 0 {
		t.Errorf("%d ServiceMonitors by default, want none (the CRD may not be installed)", n)
	}
	if len(docs["Service"]) != 1 {
		t.Fatalf("%d Services, want the one exposing the http port", len(docs["Service"]))
	}
}

func TestServiceMonitorOnScrapesMetricsOnTheServicesHTTPPort(t *testing.T) {
	docs := render(t, map[string]any{"metrics": map[string]any{"serviceMonitor": map[string]any{
		"enabled": true, "interval": "15s", "labels": map[string]any{"release": "kube-prometheus-stack"},
	}}})
	if len(docs["ServiceMonitor"]) != 1 || len(docs["Service"]) != 1 {
		t.Fatalf("%d ServiceMonitors and %d Services, want one each", len(docs["ServiceMonitor"]), len(docs["Service"]))
	}
	var sm struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Metadata   struct {
			Name   string            `json:"name"`
			Labels map[string]string `json:"labels"`
		} `json:"metadata"`
		Spec struct {
			Selector          metav1.LabelSelector `json:"selector"`
			NamespaceSelector struct {
				MatchNames []string `json:"matchNames"`
			} `json:"namespaceSelector"`
			Endpoints []struct {
				Port          string `json:"port"`
				Path          string `json:"path"`
				Interval      string `json:"interval"`
				ScrapeTimeout string `json:"scrapeTimeout"`
			} `json:"endpoints"`
		} `json:"spec"`
	}
	if err := yaml.UnmarshalStrict([]byte(docs["ServiceMonitor"][0]), &sm); err != nil {
		t.Fatal(err)
	}
	var svc corev1.Service
	if err := yaml.UnmarshalStrict([]byte(docs["Service"][0]), &svc); err != nil {
		t.Fatal(err)
	}
	if sm.APIVersion != "monitoring.coreos.com/v1" || sm.Metadata.Labels["release"] != "kube-prometheus-stack" {
		t.Errorf("apiVersion %s, labels %v", sm.APIVersion, sm.Metadata.Labels)
	}
	selector, err := metav1.LabelSelectorAsSelector(&sm.Spec.Selector)
	if err != nil {
		t.Fatal(err)
	}
	if selector.Empty() || !selector.Matches(labels.Set(svc.Labels)) {
		t.Errorf("selector %s does not pick the Service labelled %v", selector, svc.Labels)
	}
	if fmt.Sprint(sm.Spec.NamespaceSelector.MatchNames) != "[helm-service]" {
		t.Errorf("namespaceSelector = %v, want the release's namespace", sm.Spec.NamespaceSelector.MatchNames)
	}
	if len(sm.Spec.Endpoints) != 1 {
		t.Fatalf("endpoints = %+v", sm.Spec.Endpoints)
	}
	ep := sm.Spec.Endpoints[0]
	if ep.Port != "http" || ep.Path != "/metrics" || ep.Interval != "15s" || ep.ScrapeTimeout != "10s" {
		t.Errorf("endpoint = %+v, want port http, path /metrics, 15s, 10s", ep)
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Name != "http" || svc.Spec.Ports[0].TargetPort.String() != "http" {
		t.Errorf("Service ports = %+v, want the named http port", svc.Spec.Ports)
	}
	// Scraping needs no Kubernetes permission of helm-service itself: the
	// RBAC stays as it was.
	assertNoWildcards(t, rulesOf(t, docs["ClusterRole"]))
	for _, r := range rulesOf(t, docs["ClusterRole"]) {
		if contains(r.APIGroups, "monitoring.coreos.com") {
			t.Errorf("RBAC grants %v on monitoring.coreos.com", r.Verbs)
		}
	}
}

func TestDebugAddrIsSetOnlyWhenAsked(t *testing.T) {
	envOf := func(values map[string]any) map[string]string {
		docs := render(t, values)
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict([]byte(docs["Deployment"][0]), &d); err != nil {
			t.Fatal(err)
		}
		env := map[string]string{}
		for _, e := range d.Spec.Template.Spec.Containers[0].Env {
			env[e.Name] = e.Value
		}
		return env
	}
	if v, ok := envOf(nil)["DEBUG_ADDR"]; ok {
		t.Errorf("DEBUG_ADDR = %q by default, want it unset (pprof off)", v)
	}
	if v := envOf(map[string]any{"config": map[string]any{"debugAddr": "127.0.0.1:6060"}})["DEBUG_ADDR"]; v != "127.0.0.1:6060" {
		t.Errorf("DEBUG_ADDR = %q, want 127.0.0.1:6060", v)
	}
}

func TestNATSCredentialsComeFromTheSecret(t *testing.T) {
	deploymentOf := func(values map[string]any) appsv1.Deployment {
		t.Helper()
		var d appsv1.Deployment
		if err := yaml.UnmarshalStrict([]byte(render(t, values)["Deployment"][0]), &d); err != nil {
			t.Fatal(err)
		}
		return d
	}
	d := deploymentOf(nil)
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		if strings.HasPrefix(e.Name, "NATS_USER") || e.Name == "NATS_CREDS_FILE" || e.Name == "NATS_TOKEN" {
			t.Errorf("%s set without nats.credentialsSecret", e.Name)
		}
	}

	d = deploymentOf(map[string]any{"nats": map[string]any{"credentialsSecret": "nats-auth", "credsFile": true}})
	pod := d.Spec.Template.Spec
	fromSecret := map[string]string{}
	values := map[string]string{}
	for _, e := range pod.Containers[0].Env {
		if e.ValueFrom != nil && e.ValueFrom.SecretKeyRef != nil {
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name != "nats-auth" || ref.Optional == nil || !*ref.Optional {
				t.Errorf("%s from %+v, want the optional key of Secret nats-auth", e.Name, ref)
			}
			fromSecret[e.Name] = ref.Key
		}
		values[e.Name] = e.Value
	}
	if fromSecret["NATS_USER"] != "user" || fromSecret["NATS_PASSWORD"] != "password" || fromSecret["NATS_TOKEN"] != "token" {
		t.Errorf("env from the Secret = %v", fromSecret)
	}
	if values["NATS_CREDS_FILE"] != "/etc/nats-credentials/creds" {
		t.Errorf("NATS_CREDS_FILE = %q", values["NATS_CREDS_FILE"])
	}
	if _, ok := values["NATS_NKEY_FILE"]; ok {
		t.Error("NATS_NKEY_FILE set without nats.nkeyFile")
	}
	mounted := false
	for _, m := range pod.Containers[0].VolumeMounts {
		mounted = mounted || (m.Name == "nats-credentials" && m.MountPath == "/etc/nats-credentials" && m.ReadOnly)
	}
	secretVolume := false
	for _, v := range pod.Volumes {
		secretVolume = secretVolume || (v.Name == "nats-credentials" && v.Secret != nil && v.Secret.SecretName == "nats-auth")
	}
	if !mounted || !secretVolume {
		t.Errorf("Secret nats-auth mounted read-only at /etc/nats-credentials: mount %v, volume %v", mounted, secretVolume)
	}
}

func TestNATSCredsFileNeedsTheSecret(t *testing.T) {
	ch, err := loader.Load(chartPath)
	if err != nil {
		t.Fatal(err)
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.ReleaseName = true, true, "helm-service"
	_, err = install.Run(ch, map[string]any{"nats": map[string]any{"credsFile": true}})
	if err == nil || !strings.Contains(err.Error(), "nats.credentialsSecret") {
		t.Errorf("render error = %v, want one naming nats.credentialsSecret", err)
	}
}

// boundClusterRules are the rules of the ClusterRoles that
// ClusterRoleBindings bind: what the chart grants in every namespace.
func boundClusterRules(t *testing.T, docs map[string][]string) []rbacv1.PolicyRule {
	t.Helper()
	bound := map[string]bool{}
	for _, doc := range docs["ClusterRoleBinding"] {
		var b rbacv1.ClusterRoleBinding
		if err := yaml.UnmarshalStrict([]byte(doc), &b); err != nil {
			t.Fatal(err)
		}
		bound[b.RoleRef.Name] = true
	}
	var rules []rbacv1.PolicyRule
	for _, doc := range docs["ClusterRole"] {
		var role rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict([]byte(doc), &role); err != nil {
			t.Fatal(err)
		}
		if bound[role.Name] {
			rules = append(rules, role.Rules...)
		}
	}
	return rules
}

// clusterRole is the rendered ClusterRole of that name.
func clusterRole(t *testing.T, docs map[string][]string, name string) rbacv1.ClusterRole {
	t.Helper()
	for _, doc := range docs["ClusterRole"] {
		var role rbacv1.ClusterRole
		if err := yaml.UnmarshalStrict([]byte(doc), &role); err != nil {
			t.Fatal(err)
		}
		if role.Name == name {
			return role
		}
	}
	t.Fatalf("no ClusterRole %s", name)
	return rbacv1.ClusterRole{}
}

// allowsNamed is allows for a rule that names exactly these resourceNames.
func allowsNamed(rules []rbacv1.PolicyRule, group, resource, verb string, names ...string) bool {
	for _, r := range rules {
		if contains(r.APIGroups, group) && contains(r.Resources, resource) && contains(r.Verbs, verb) && strings.Join(r.ResourceNames, ",") == strings.Join(names, ",") {
			return true
		}
	}
	return false
}

// The deployer's ClusterRole holds what charts deploy and no RBAC;
// helm-service's own rights shrink to namespaces, release records, and
// impersonating and binding that one account and role by name.
func TestDeployerRBAC(t *testing.T) {
	for _, mode := range []map[string]any{
		{"mode": "clusterWide"},
		{"mode": "namespaced", "namespaces": []any{"team-a"}},
	} {
		t.Run(mode["mode"].(string), func(t *testing.T) {
			docs := render(t, map[string]any{"rbac": mode, "deployer": map[string]any{"serviceAccount": "deployer"}})
			deployer := clusterRole(t, docs, "helm-service-deployer")
			assertNoWildcards(t, deployer.Rules)
			for _, r := range deployer.Rules {
				if contains(r.APIGroups, "rbac.authorization.k8s.io") {
					t.Errorf("the deployer role grants RBAC: %+v", r)
				}
			}
			for _, need := range []struct{ group, resource, verb string }{
				{"", "configmaps", "create"}, {"", "secrets", "create"}, {"", "serviceaccounts", "create"},
				{"apps", "deployments", "patch"}, {"apps", "deployments/scale", "update"}, {"", "services", "create"},
				{"networking.k8s.io", "ingresses", "create"}, {"autoscaling", "horizontalpodautoscalers", "create"},
				{"policy", "poddisruptionbudgets", "create"}, {"batch", "jobs", "create"},
				{"gateway.networking.k8s.io", "httproutes", "patch"}, {"networking.istio.io", "virtualservices", "patch"},
				{"networking.istio.io", "destinationrules", "patch"},
			} {
				if !allows(deployer.Rules, need.group, need.resource, need.verb) {
					t.Errorf("the deployer role does not allow %s %s/%s", need.verb, need.group, need.resource)
				}
			}
			own := boundClusterRules(t, docs)
			assertNoWildcards(t, own)
			for _, deny := range []struct{ group, resource, verb string }{
				{"", "configmaps", "create"}, {"", "secrets", "create"}, {"", "secrets", "get"}, {"apps", "deployments", "create"},
				{"apps", "deployments/scale", "update"}, {"rbac.authorization.k8s.io", "clusterrolebindings", "create"},
			} {
				if allows(own, deny.group, deny.resource, deny.verb) {
					t.Errorf("helm-service itself may %s %s/%s in every namespace", deny.verb, deny.group, deny.resource)
				}
			}
			if !allowsNamed(own, "", "serviceaccounts", "impersonate", "deployer") {
				t.Errorf("helm-service may not impersonate the deployer (only it): %+v", own)
			}
			if !allowsNamed(own, "rbac.authorization.k8s.io", "clusterroles", "bind", "helm-service-deployer") {
				t.Errorf("helm-service may not bind the deployer role (only it): %+v", own)
			}
			if env := envOf(t, docs); env["IMPERSONATE"] != "true" || env["DEPLOYER_SERVICE_ACCOUNT"] != "deployer" || env["DEPLOYER_ROLE"] != "helm-service-deployer" {
				t.Errorf("env IMPERSONATE=%q DEPLOYER_SERVICE_ACCOUNT=%q DEPLOYER_ROLE=%q", env["IMPERSONATE"], env["DEPLOYER_SERVICE_ACCOUNT"], env["DEPLOYER_ROLE"])
			}
		})
	}
}

// deployer.impersonate=false binds the deployer's role to helm-service
// itself and tells it not to impersonate.
func TestTrustedOnlyRBAC(t *testing.T) {
	docs := render(t, map[string]any{"deployer": map[string]any{"impersonate": false}})
	own := boundClusterRules(t, docs)
	if !allows(own, "apps", "deployments", "create") || allows(own, "", "serviceaccounts", "impersonate") {
		t.Errorf("helm-service's own rules with deployer.impersonate=false: %+v", own)
	}
	if env := envOf(t, docs); env["IMPERSONATE"] != "false" {
		t.Errorf("IMPERSONATE=%q, want false", env["IMPERSONATE"])
	}
}

// envOf is the environment of the rendered Deployment's container.
func envOf(t *testing.T, docs map[string][]string) map[string]string {
	t.Helper()
	var d appsv1.Deployment
	if err := yaml.UnmarshalStrict([]byte(docs["Deployment"][0]), &d); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{}
	for _, e := range d.Spec.Template.Spec.Containers[0].Env {
		env[e.Name] = e.Value
	}
	return env
}
