package config

import (
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	appsv1 "k8s.io/api/apps/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
)

// parsedValues compares the parsed settings by what they were parsed from.
var parsedValues = cmp.Options{
	cmp.Comparer(func(a, b NamespaceTemplate) bool { return a.String() == b.String() }),
	cmp.Comparer(func(a, b AllowedNamespaces) bool { return a.Text == b.Text }),
	cmp.Comparer(func(a, b Adoptable) bool { return a.Text == b.Text }),
	cmp.Comparer(func(a, b ClusterKinds) bool { return a.String() == b.String() }),
	cmp.AllowUnexported(charts.RefAllowlist{}),
}

func mustRefs(t *testing.T, patterns ...string) ChartRefs {
	t.Helper()
	a, err := charts.ParseRefAllowlist(patterns)
	if err != nil {
		t.Fatal(err)
	}
	return ChartRefs{a}
}

func mustClusterKinds(t *testing.T, kinds ...string) ClusterKinds {
	t.Helper()
	k, err := helm.ParseClusterKinds(kinds)
	if err != nil {
		t.Fatal(err)
	}
	return ClusterKinds{k}
}

func mustTemplate(t *testing.T, text string) NamespaceTemplate {
	t.Helper()
	tmpl, err := kube.ParseNamespaceTemplate(text)
	if err != nil {
		t.Fatal(err)
	}
	return NamespaceTemplate{tmpl}
}

func TestLoadDefaultsPerGroup(t *testing.T) {
	cleanEnv(t)
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		group     string
		got, want any
	}{
		{"Bus", c.Bus, Bus{
			Listen: "127.0.0.1:4222", EmbeddedMaxStore: 2 << 30, QueueGroup: "helm-service", Mode: "jetstream", Stream: "KEPTN",
			StreamMaxBytes: 1 << 30, StreamMaxAge: 24 * time.Hour, AckWait: 30 * time.Second, MaxDeliver: 5, MaxEventBytes: 1 << 20,
			Source: "helm-service",
		}},
		{"Bus.Heartbeat", c.Bus.Heartbeat(), 10 * time.Second},
		{"Delivery", c.Delivery, Delivery{
			MaxParallelTasks: DefaultParallelTasks(), MaxQueuedTasks: DefaultQueuedTasks(DefaultParallelTasks()), LedgerBucket: "helm-service-tasks", LedgerTTL: 72 * time.Hour,
			LockBucket: "helm-service-locks", LockTTL: 30 * time.Second,
		}},
		{"Delivery.LeaseRenewal", c.Delivery.LeaseRenewal(), 10 * time.Second},
		{"Retry", c.Retry, Retry{PendingReleaseAge: 10 * time.Minute, PendingRetryTimeout: 15 * time.Minute, ClusterRetryTimeout: 3 * time.Minute}},
		{"Namespaces", c.Namespaces, Namespaces{
			Allowed:  AllowedNamespaces{Text: "*,!kube-*,!default"},
			Template: mustTemplate(t, "{{.Project}}-{{.Stage}}"),
			Labels:   NamespaceLabels{"pod-security.kubernetes.io/enforce": "baseline"},
		}},
		{"Cluster", c.Cluster, Cluster{KubeQPS: 200, KubeBurst: 400, Impersonate: true, DeployerAccount: "helm-service-deployer", DeployerRole: "helm-service-deployer"}},
		{"Charts", c.Charts, Charts{
			Source: "dir", Dir: "./charts", FetchTimeout: 2 * time.Minute, MaxBytes: 10 << 20,
			OCITemplate: "oci://{{.Registry}}/{{.Project}}/{{.Service}}", CacheMaxEntries: 256, CacheMaxBytes: 128 << 20,
			GitCacheMaxBytes: 512 << 20,
		}},
		{"Deploy", c.Deploy, Deploy{
			WaitTimeout: 5 * time.Minute, FailFast: true, RollbackDirectOnFail: true, MaxHistory: 10, MaxReplicas: 100,
			IngressProtocol: "http", IngressHostnameSuffix: "svc.cluster.local", IngressPort: "80",
			PublicURITemplate: "${INGRESS_PROTOCOL}://${SERVICE}.${NAMESPACE}.${INGRESS_HOSTNAME_SUFFIX}:${INGRESS_PORT}",
		}},
		{"Traffic", c.Traffic, Traffic{RouteMode: "canary", Router: "service"}},
		{"Removal", c.Removal, Removal{EventSources: []string{"shipyard-controller"}}},
		{"Server", c.Server, Server{HTTPAddr: ":8080", ShutdownGrace: 30 * time.Second}},
		{"Server.PublishTimeout", c.Server.PublishTimeout(), 90 * time.Second},
		{"Observability", c.Observability, Observability{LogLevel: LogLevel(slog.LevelInfo), LogFormat: "json", CDEventsSubjectPrefix: "dev.cdevents"}},
	} {
		t.Run(tc.group, func(t *testing.T) {
			if diff := cmp.Diff(tc.want, tc.got, parsedValues); diff != "" {
				t.Errorf("defaults (-want +got):\n%s", diff)
			}
		})
	}
}

// everyVariable sets each variable Load reads to a value other than its
// default.
var everyVariable = map[string]string{
	"NATS_URL": "nats://nats.example.com:4222", "NATS_LISTEN": "127.0.0.1:0", "NATS_DATA_DIR": "/data/nats",
	"NATS_EMBEDDED_MAX_STORE": "4294967296", "NATS_QUEUE_GROUP": "hs", "NATS_MODE": "core", "NATS_STREAM": "EVENTS",
	"NATS_STREAM_MAX_BYTES": "2097152", "NATS_STREAM_MAX_AGE": "1h", "NATS_ACK_WAIT": "1m", "NATS_REPLICAS": "3",
	"NATS_MAX_DELIVER": "7", "MAX_EVENT_BYTES": "2048", "EVENT_SOURCE": "hs-test",
	"NATS_USER": "u", "NATS_PASSWORD": "p", "NATS_TOKEN": "t", "NATS_CREDS_FILE": "/creds", "NATS_NKEY_FILE": "/nkey",
	"NATS_TLS_CA": "/ca.pem", "NATS_TLS_CERT": "/cert.pem", "NATS_TLS_KEY": "/key.pem",

	"MAX_PARALLEL_TASKS": "8", "MAX_QUEUED_TASKS": "16", "LEDGER_BUCKET": "ledger", "LEDGER_TTL": "1h",
	"LOCK_BUCKET": "locks", "LOCK_TTL": "9s",
	"PENDING_RELEASE_AGE": "20m", "PENDING_RETRY_TIMEOUT": "30m", "CLUSTER_RETRY_TIMEOUT": "1m",

	"ALLOWED_NAMESPACES": "team-*,!team-secret", "NAMESPACE_TEMPLATE": "{{.Project}}-{{.Service}}",
	"NAMESPACE_LABELS": "a=b,team.example.com/owner=ops", "POD_NAMESPACE": "keptn",
	"ADOPT_NAMESPACES": "sock-shop-*", "ADOPT_RELEASES": "sock-shop-*/carts,!*/*-generated",
	"ALLOWED_CLUSTER_KINDS": "CustomResourceDefinition.apiextensions.k8s.io,PersistentVolume",
	"KUBE_QPS":              "10.5", "KUBE_BURST": "20", "IMPERSONATE": "false", "DEPLOYER_SERVICE_ACCOUNT": "deployer", "DEPLOYER_ROLE": "deployer-role",

	"CHART_SOURCE": "git", "CHART_DIR": "/charts", "CHART_FETCH_TIMEOUT": "30s", "CHART_REF_ALLOWED": "registry.example.com/shared/*,ghcr.io/team/*",
	"MAX_CHART_BYTES": "4096", "CHART_REGISTRY": "registry.example.com:5000", "CHART_OCI_TEMPLATE": "oci://{{.Registry}}/{{.Service}}",
	"CHART_REGISTRY_USERNAME": "ru", "CHART_REGISTRY_PASSWORD": "rp", "CHART_REGISTRY_CA_FILE": "/registry-ca.pem",
	"CHART_REGISTRY_PLAIN_HTTP": "true", "CHART_GIT_URL": "https://git.example.com/{{.Project}}.git",
	"CHART_GIT_USERNAME": "gu", "CHART_GIT_PASSWORD": "", "CHART_GIT_TOKEN": "gt",
	"CHART_CACHE_MAX_ENTRIES": "3", "CHART_CACHE_MAX_BYTES": "5",
	"CHART_GIT_CACHE_DIR": "/cache/git", "CHART_GIT_CACHE_MAX_BYTES": "1048576",

	"WAIT_TIMEOUT": "2m", "FAIL_FAST": "false", "ROLLOUT_STRATEGY": "RollingUpdate", "ROLLOUT_MAX_SURGE": "1",
	"ROLLOUT_MAX_UNAVAILABLE": "25%", "ROLLBACK_DIRECT_ON_FAIL": "false", "MAX_HISTORY": "3", "MAX_REPLICAS": "7",
	"REDEPLOY_ON_VARIABLE_CHANGE": "true", "INGRESS_PROTOCOL": "https", "INGRESS_HOSTNAME_SUFFIX": "example.com",
	"INGRESS_PORT": "443", "PUBLIC_URI_TEMPLATE": "https://${SERVICE}.example.com",

	"ROUTE_MODE": "dark", "TRAFFIC_ROUTER": "istio", "GATEWAY_NAME": "gw", "GATEWAY_NAMESPACE": "gw-system",
	"ISTIO_GATEWAYS":       "istio-system/public,istio-system/private",
	"DELETE_EVENT_SOURCES": "shipyard-controller,cli", "DELETE_EMPTY_NAMESPACES": "true",

	"HTTP_ADDR": ":9090", "DEBUG_ADDR": "127.0.0.1:6060", "SHUTDOWN_GRACE": "10s",
	"LOG_LEVEL": "warn", "LOG_FORMAT": "text", "TRACING_ENABLED": "true", "CDEVENTS_ENABLED": "true", "CDEVENTS_SUBJECT_PREFIX": "cd",
}

// TestLoadReadsEveryVariableIntoItsGroup sets every variable and compares
// the whole configuration: each lands in its group's field, parsed.
func TestLoadReadsEveryVariableIntoItsGroup(t *testing.T) {
	if diff := cmp.Diff(slices.Sorted(maps.Keys(variables(t))), slices.Sorted(maps.Keys(everyVariable))); diff != "" {
		t.Fatalf("everyVariable misses (-) or has extra (+) variables:\n%s", diff)
	}
	cleanEnv(t)
	for k, v := range everyVariable {
		t.Setenv(k, v)
	}
	got, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	surge, unavailable := intstr.FromInt32(1), intstr.FromString("25%")
	want := Config{
		Bus: Bus{
			URL: "nats://nats.example.com:4222", Listen: "127.0.0.1:0", DataDir: "/data/nats", EmbeddedMaxStore: 4 << 30,
			QueueGroup: "hs", Mode: "core", Stream: "EVENTS", StreamMaxBytes: 2 << 20, StreamMaxAge: time.Hour, AckWait: time.Minute,
			Replicas: 3, MaxDeliver: 7, MaxEventBytes: 2048, Source: "hs-test",
			User: "u", Password: "p", Token: "t", CredsFile: "/creds", NKeyFile: "/nkey", TLSCA: "/ca.pem", TLSCert: "/cert.pem", TLSKey: "/key.pem",
		},
		Delivery: Delivery{MaxParallelTasks: 8, MaxQueuedTasks: 16, LedgerBucket: "ledger", LedgerTTL: time.Hour, LockBucket: "locks", LockTTL: 9 * time.Second},
		Retry:    Retry{PendingReleaseAge: 20 * time.Minute, PendingRetryTimeout: 30 * time.Minute, ClusterRetryTimeout: time.Minute},
		Namespaces: Namespaces{
			Allowed:         AllowedNamespaces{Text: "team-*,!team-secret"},
			Template:        mustTemplate(t, "{{.Project}}-{{.Service}}"),
			Labels:          NamespaceLabels{"a": "b", "team.example.com/owner": "ops"},
			Own:             "keptn",
			AdoptNamespaces: AdoptNamespaces{Adoptable{Text: "sock-shop-*"}},
			AdoptReleases:   AdoptReleases{Adoptable{Text: "sock-shop-*/carts,!*/*-generated"}},
			ClusterKinds:    mustClusterKinds(t, "CustomResourceDefinition.apiextensions.k8s.io", "PersistentVolume"),
		},
		Cluster: Cluster{KubeQPS: 10.5, KubeBurst: 20, DeployerAccount: "deployer", DeployerRole: "deployer-role"},
		Charts: Charts{
			Source: "git", Dir: "/charts", FetchTimeout: 30 * time.Second, RefAllowed: mustRefs(t, "registry.example.com/shared/*", "ghcr.io/team/*"),
			MaxBytes: 4096, Registry: "registry.example.com:5000", OCITemplate: "oci://{{.Registry}}/{{.Service}}",
			RegistryUsername: "ru", RegistryPassword: "rp", RegistryCAFile: "/registry-ca.pem", RegistryPlainHTTP: true,
			GitURL: "https://git.example.com/{{.Project}}.git", GitUsername: "gu", GitToken: "gt", CacheMaxEntries: 3, CacheMaxBytes: 5,
			GitCacheDir: "/cache/git", GitCacheMaxBytes: 1 << 20,
		},
		Deploy: Deploy{
			WaitTimeout: 2 * time.Minute, FailFast: false,
			Rollout:              kube.Rollout{Type: appsv1.RollingUpdateDeploymentStrategyType, MaxSurge: &surge, MaxUnavailable: &unavailable},
			RollbackDirectOnFail: false, MaxHistory: 3, MaxReplicas: 7, RedeployOnVariableChange: true,
			IngressProtocol: "https", IngressHostnameSuffix: "example.com", IngressPort: "443", PublicURITemplate: "https://${SERVICE}.example.com",
		},
		Traffic: Traffic{RouteMode: "dark", Router: "istio", GatewayName: "gw", GatewayNamespace: "gw-system",
			IstioGateways: []string{"istio-system/public", "istio-system/private"}},
		Removal:       Removal{EventSources: []string{"shipyard-controller", "cli"}, DeleteEmptyNamespaces: true},
		Server:        Server{HTTPAddr: ":9090", DebugAddr: "127.0.0.1:6060", ShutdownGrace: 10 * time.Second},
		Observability: Observability{LogLevel: LogLevel(slog.LevelWarn), LogFormat: "text", TracingEnabled: true, CDEventsEnabled: true, CDEventsSubjectPrefix: "cd"},
	}
	if diff := cmp.Diff(want, got, parsedValues); diff != "" {
		t.Errorf("configuration (-want +got):\n%s", diff)
	}
}

// The parsed settings are the values their users call: what Load checked
// is what a task gets.
func TestParsedSettingsAreReadyToUse(t *testing.T) {
	cleanEnv(t)
	t.Setenv("CHART_REF_ALLOWED", "registry.example.com/shared/*")
	t.Setenv("ALLOWED_NAMESPACES", "team-*,!team-secret")
	t.Setenv("NAMESPACE_TEMPLATE", "{{.Stage}}-{{.Project}}")
	t.Setenv("POD_NAMESPACE", "keptn")
	t.Setenv("ADOPT_NAMESPACES", "sock-shop-*")
	t.Setenv("ADOPT_RELEASES", "sock-shop-*/*,!*/*-generated")
	c, err := Load()
	if err != nil {
		t.Fatal(err)
	}
	ns, err := c.Namespaces.Template.Namespace(kube.NamespaceFields{Project: "sockshop", Stage: "staging", Service: "carts"})
	if err != nil {
		t.Fatal(err)
	}
	errText := func(err error) string {
		if err == nil {
			return ""
		}
		return err.Error()
	}
	got := map[string]string{
		"namespace":         ns,
		"chart ref allowed": errText(c.Charts.RefAllowed.Check("oci://registry.example.com/shared/carts", "1.0.0")),
		"chart ref refused": errText(c.Charts.RefAllowed.Check("oci://registry.example.com/other/carts", "1.0.0")),
		"namespace allowed": errText(c.Namespaces.Allowed.Allow("team-a")),
		"namespace refused": errText(c.Namespaces.Allowed.Allow("team-secret")),
		"own namespace":     c.Namespaces.Own,
		"namespace adopted": fmt.Sprint(c.Namespaces.AdoptNamespaces.Matches("sock-shop-production")),
		"release adopted":   fmt.Sprint(c.Namespaces.AdoptReleases.Matches("sock-shop-production/carts")),
		"release refused":   fmt.Sprint(c.Namespaces.AdoptReleases.Matches("sock-shop-production/carts-generated")),
	}
	want := map[string]string{
		"namespace":         "staging-sockshop",
		"chart ref allowed": "",
		"chart ref refused": errText(mustRefs(t, "registry.example.com/shared/*").Check("oci://registry.example.com/other/carts", "1.0.0")),
		"namespace allowed": "",
		"namespace refused": `namespace "team-secret" is not allowed: it matches "!team-secret" in ALLOWED_NAMESPACES (team-*,!team-secret)`,
		"own namespace":     "keptn",
		"namespace adopted": "true",
		"release adopted":   "true",
		"release refused":   "false",
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("parsed settings (-want +got):\n%s", diff)
	}
	if got["chart ref refused"] == "" {
		t.Error("a chart ref outside CHART_REF_ALLOWED was allowed")
	}
}

// trigger and watch read the NATS settings only: a mistake elsewhere in
// the service's environment does not stop them, one in the NATS settings
// does.
func TestLoadBusReadsTheBusAlone(t *testing.T) {
	for _, tc := range []struct {
		name, env, value string
		wantErr          string
	}{
		{"other group's mistake", "CHART_SOURCE", "s3", ""},
		{"bus mistake", "NATS_MODE", "push", `NATS_MODE must be jetstream or core, got "push"`},
		{"bus unreadable", "NATS_ACK_WAIT", "soon", `NATS_ACK_WAIT="soon" is not a duration`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			t.Setenv("NATS_URL", "nats://nats.example.com:4222")
			t.Setenv("NATS_TOKEN", "secret")
			t.Setenv(tc.env, tc.value)
			b, err := LoadBus()
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("LoadBus() error %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff([]string{"nats://nats.example.com:4222", "secret", "helm-service"}, []string{b.URL, b.Token, b.Source}); diff != "" {
				t.Errorf("bus (-want +got):\n%s", diff)
			}
		})
	}
}

func TestTrafficRouterOr(t *testing.T) {
	for _, tc := range []struct {
		name string
		set  *string
		want string
	}{
		{"unset", nil, "auto"},
		{"empty", ptr(""), "auto"},
		{"set", ptr("istio"), "istio"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cleanEnv(t)
			if tc.set != nil {
				t.Setenv("TRAFFIC_ROUTER", *tc.set)
			}
			if got := TrafficRouterOr("auto"); got != tc.want {
				t.Errorf("TrafficRouterOr(auto) = %q, want %q", got, tc.want)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
