// Package config holds helm-service's configuration, read from the
// environment.
package config

import (
	"fmt"
	"log/slog"
	"net"
	"os"
	"runtime"
	"strings"
	"time"

	"github.com/kelseyhightower/envconfig"

	"github.com/helm-service/helm-service/pkg/allowlist"
	"github.com/helm-service/helm-service/pkg/charts"
	"github.com/helm-service/helm-service/pkg/kube"
)

// Config is every setting of helm-service. Each field is read from the
// environment variable named in its envconfig tag; README.md lists them.
type Config struct {
	// NATSURL is the NATS server to connect to. Empty starts an embedded
	// server instead.
	NATSURL string `envconfig:"NATS_URL"`
	// NATSListen is where the embedded NATS server listens.
	NATSListen string `envconfig:"NATS_LISTEN" default:"127.0.0.1:4222"`
	// NATSDataDir is where the embedded NATS server keeps JetStream data.
	// Empty means a directory under the system's temporary directory.
	NATSDataDir string `envconfig:"NATS_DATA_DIR"`
	// QueueGroup is the NATS queue group (core mode) or durable JetStream
	// consumer (jetstream mode) that replicas share work in.
	QueueGroup string `envconfig:"NATS_QUEUE_GROUP" default:"helm-service"`
	// NATSMode is jetstream (at least once) or core (at most once).
	NATSMode string `envconfig:"NATS_MODE" default:"jetstream"`
	// Stream is the JetStream stream over sh.keptn.event.>.
	Stream string `envconfig:"NATS_STREAM" default:"KEPTN"`
	// StreamMaxBytes bounds the stream helm-service creates.
	StreamMaxBytes int64 `envconfig:"NATS_STREAM_MAX_BYTES" default:"1073741824"`
	// NATSEmbeddedMaxStore bounds the embedded server's JetStream storage.
	NATSEmbeddedMaxStore int64 `envconfig:"NATS_EMBEDDED_MAX_STORE" default:"2147483648"`
	// StreamMaxAge bounds how long the stream keeps an unacknowledged event.
	StreamMaxAge time.Duration `envconfig:"NATS_STREAM_MAX_AGE" default:"24h"`
	// AckWait is how long JetStream waits for a sign of life from a task
	// before it delivers the trigger again.
	AckWait time.Duration `envconfig:"NATS_ACK_WAIT" default:"30s"`
	// NATSReplicas is how many copies of its stream and key-value buckets
	// JetStream keeps; 0 means 3 on a NATS cluster of at least three
	// servers, else 1.
	NATSReplicas int `envconfig:"NATS_REPLICAS" default:"0"`
	// MaxDeliver bounds the deliveries of one trigger; the last one is
	// answered errored without running the task.
	MaxDeliver int `envconfig:"NATS_MAX_DELIVER" default:"5"`
	// MaxQueuedTasks bounds the triggers received and not yet answered.
	MaxQueuedTasks int `envconfig:"MAX_QUEUED_TASKS" default:"1000"`
	// LedgerBucket is the JetStream key-value bucket of answered triggers.
	LedgerBucket string `envconfig:"LEDGER_BUCKET" default:"helm-service-tasks"`
	// LedgerTTL is how long an answered trigger is remembered.
	LedgerTTL time.Duration `envconfig:"LEDGER_TTL" default:"72h"`
	// LockBucket is the JetStream key-value bucket of release leases, which
	// keep replicas from working on one release at once.
	LockBucket string `envconfig:"LOCK_BUCKET" default:"helm-service-locks"`
	// LockTTL is how long a replica's lease on a release outlives the
	// replica; a held lease is renewed every LockTTL/3.
	LockTTL time.Duration `envconfig:"LOCK_TTL" default:"30s"`
	// MaxEventBytes refuses larger events.
	MaxEventBytes int `envconfig:"MAX_EVENT_BYTES" default:"1048576"`

	// NATS credentials: at most one of user/password, token, creds file
	// and NKey seed file; TLS with any.
	NATSUser      string `envconfig:"NATS_USER"`
	NATSPassword  string `envconfig:"NATS_PASSWORD"`
	NATSToken     string `envconfig:"NATS_TOKEN"`
	NATSCredsFile string `envconfig:"NATS_CREDS_FILE"`
	NATSNKeyFile  string `envconfig:"NATS_NKEY_FILE"`
	NATSTLSCA     string `envconfig:"NATS_TLS_CA"`
	NATSTLSCert   string `envconfig:"NATS_TLS_CERT"`
	NATSTLSKey    string `envconfig:"NATS_TLS_KEY"`

	// Source is the CloudEvents source of every event helm-service sends;
	// events from this source are ignored.
	Source string `envconfig:"EVENT_SOURCE" default:"helm-service"`

	// ChartSource is where services' charts come from: dir (ChartDir),
	// oci (an OCI registry) or git (a git repository in Keptn's layout).
	ChartSource string `envconfig:"CHART_SOURCE" default:"dir"`
	// ChartDir is the directory charts are looked up in.
	ChartDir string `envconfig:"CHART_DIR" default:"./charts"`
	// NamespaceLabels go on every namespace helm-service creates.
	NamespaceLabels []string `envconfig:"NAMESPACE_LABELS" default:"pod-security.kubernetes.io/enforce=baseline"`
	// DeleteEventSources are the CloudEvents sources whose
	// service.delete.finished removes a service.
	DeleteEventSources []string `envconfig:"DELETE_EVENT_SOURCES" default:"shipyard-controller"`
	// ChartFetchTimeout bounds all the requests of one chart's fetch from
	// a registry.
	ChartFetchTimeout time.Duration `envconfig:"CHART_FETCH_TIMEOUT" default:"2m"`
	// ChartRefAllowed lists the <registry host>/<repository> globs a
	// trigger's deployment.chart.ref may name; empty allows none.
	ChartRefAllowed []string `envconfig:"CHART_REF_ALLOWED"`
	// MaxChartBytes refuses a chart whose files add up to more, or whose
	// .tgz is larger or unpacks to more, before it is read into memory.
	MaxChartBytes int64 `envconfig:"MAX_CHART_BYTES" default:"10485760"`
	// ChartRegistry is the registry host[:port] ChartOCITemplate names.
	ChartRegistry string `envconfig:"CHART_REGISTRY"`
	// ChartOCITemplate renders a service's chart repository from
	// {{.Registry}}, {{.Project}}, {{.Stage}} and {{.Service}}.
	ChartOCITemplate string `envconfig:"CHART_OCI_TEMPLATE" default:"oci://{{.Registry}}/{{.Project}}/{{.Service}}"`
	// Registry access, for CHART_SOURCE=oci and deployment.chart.ref.
	ChartRegistryUsername  string `envconfig:"CHART_REGISTRY_USERNAME"`
	ChartRegistryPassword  string `envconfig:"CHART_REGISTRY_PASSWORD"`
	ChartRegistryCAFile    string `envconfig:"CHART_REGISTRY_CA_FILE"`
	ChartRegistryPlainHTTP bool   `envconfig:"CHART_REGISTRY_PLAIN_HTTP" default:"false"`
	// ChartGitURL is the git repository of CHART_SOURCE=git, a template
	// of {{.Project}} (Keptn kept one repository per project).
	ChartGitURL      string `envconfig:"CHART_GIT_URL"`
	ChartGitUsername string `envconfig:"CHART_GIT_USERNAME"`
	ChartGitPassword string `envconfig:"CHART_GIT_PASSWORD"`
	ChartGitToken    string `envconfig:"CHART_GIT_TOKEN"`
	// ChartCacheMaxEntries and ChartCacheMaxBytes bound the in-memory
	// cache of charts fetched from a registry or git; 0 turns it off.
	ChartCacheMaxEntries int   `envconfig:"CHART_CACHE_MAX_ENTRIES" default:"256"`
	ChartCacheMaxBytes   int64 `envconfig:"CHART_CACHE_MAX_BYTES" default:"134217728"`
	// WaitTimeout bounds how long a deployment waits for its workloads.
	WaitTimeout time.Duration `envconfig:"WAIT_TIMEOUT" default:"5m"`
	// FailFast ends a deployment's wait early when a pod of its workloads
	// cannot become ready (image pull or crash loop back-off, unschedulable,
	// a claim left Pending).
	FailFast bool `envconfig:"FAIL_FAST" default:"true"`
	// MaxParallelTasks bounds how many tasks run at once; 0 sizes it for
	// the machine (DefaultParallelTasks).
	MaxParallelTasks int `envconfig:"MAX_PARALLEL_TASKS" default:"0"`
	// PendingReleaseAge is how old a release stuck in pending-install,
	// pending-upgrade or pending-rollback must be before helm-service
	// recovers it. Keep it above WAIT_TIMEOUT so that an operation still
	// running elsewhere is never taken over.
	PendingReleaseAge time.Duration `envconfig:"PENDING_RELEASE_AGE" default:"10m"`
	// PendingRetryTimeout is how long a task that finds its release pending
	// runs again (once the record is old enough to recover, or sooner)
	// before it is answered errored. Keep it above PENDING_RELEASE_AGE.
	PendingRetryTimeout time.Duration `envconfig:"PENDING_RETRY_TIMEOUT" default:"15m"`
	// ClusterRetryTimeout is how long a task that fails because the
	// Kubernetes API server is unreachable runs again, with backoff, before
	// it is answered errored.
	ClusterRetryTimeout time.Duration `envconfig:"CLUSTER_RETRY_TIMEOUT" default:"3m"`
	// AllowedNamespaces are the namespaces tasks may deploy to: globs,
	// "!" excludes. Empty means allowlist.Default(OwnNamespace).
	AllowedNamespaces string `envconfig:"ALLOWED_NAMESPACES"`
	// NamespaceTemplate is the Go text/template of a service's namespace,
	// over Project, Stage, Service, Branch (the trigger's label "branch")
	// and Labels (the trigger's labels). The result is made a valid
	// namespace name (see kube.SanitizeNamespace).
	NamespaceTemplate string `envconfig:"NAMESPACE_TEMPLATE" default:"{{.Project}}-{{.Stage}}"`
	// OwnNamespace is helm-service's namespace; empty reads the service
	// account's namespace when running in a cluster.
	OwnNamespace string `envconfig:"POD_NAMESPACE"`

	// KubeQPS and KubeBurst limit the requests per second each Kubernetes
	// client sends (client-go's own defaults are 5 and 10).
	KubeQPS   float32 `envconfig:"KUBE_QPS" default:"50"`
	KubeBurst int     `envconfig:"KUBE_BURST" default:"100"`

	// Ingress settings build the public URI of a deployment, as in Keptn.
	IngressProtocol       string `envconfig:"INGRESS_PROTOCOL" default:"http"`
	IngressHostnameSuffix string `envconfig:"INGRESS_HOSTNAME_SUFFIX" default:"svc.cluster.local"`
	IngressPort           string `envconfig:"INGRESS_PORT" default:"80"`
	// PublicURITemplate is expanded with ${INGRESS_PROTOCOL}, ${SERVICE},
	// ${PROJECT}, ${STAGE}, ${NAMESPACE}, ${INGRESS_HOSTNAME_SUFFIX} and
	// ${INGRESS_PORT}. ${NAMESPACE} is the namespace NAMESPACE_TEMPLATE
	// gives (Keptn's <project>-<stage> by default).
	PublicURITemplate string `envconfig:"PUBLIC_URI_TEMPLATE" default:"${INGRESS_PROTOCOL}://${SERVICE}.${NAMESPACE}.${INGRESS_HOSTNAME_SUFFIX}:${INGRESS_PORT}"`

	// RouteMode is where a blue/green service's stable endpoint sends
	// traffic while a new version runs as the canary: canary (all traffic
	// to the canary, as Keptn did) or dark (traffic stays on the primary;
	// tests use the canary's own endpoint).
	RouteMode string `envconfig:"ROUTE_MODE" default:"canary"`
	// TrafficRouter routes blue/green services: service (plain Kubernetes
	// Services), gatewayapi (HTTPRoute weights) or istio (VirtualService
	// weights).
	TrafficRouter string `envconfig:"TRAFFIC_ROUTER" default:"service"`
	// GatewayName and GatewayNamespace are the Gateway the gatewayapi
	// router's HTTPRoutes attach to; without a name they attach to the
	// stable Service (the mesh profile).
	GatewayName      string `envconfig:"GATEWAY_NAME"`
	GatewayNamespace string `envconfig:"GATEWAY_NAMESPACE"`
	// IstioGateways are Istio Gateways (namespace/name) the istio router's
	// VirtualServices attach to besides the mesh.
	IstioGateways []string `envconfig:"ISTIO_GATEWAYS"`
	// RollbackDirectOnFail rolls a direct release back to its previous Helm
	// revision on a failed release or a rollback.
	RollbackDirectOnFail bool `envconfig:"ROLLBACK_DIRECT_ON_FAIL" default:"true"`

	// RolloutStrategy, RolloutMaxSurge and RolloutMaxUnavailable set the
	// update strategy of every chart's Deployments unless a trigger asks
	// for another; empty keeps what the chart says.
	RolloutStrategy       string `envconfig:"ROLLOUT_STRATEGY"`
	RolloutMaxSurge       string `envconfig:"ROLLOUT_MAX_SURGE"`
	RolloutMaxUnavailable string `envconfig:"ROLLOUT_MAX_UNAVAILABLE"`

	// MaxReplicas is the most replicas a scaling action sets on a workload.
	MaxReplicas int32 `envconfig:"MAX_REPLICAS" default:"100"`
	// DeleteEmptyNamespaces deletes a namespace helm-service created when
	// removing a deleted service leaves it empty.
	DeleteEmptyNamespaces bool `envconfig:"DELETE_EMPTY_NAMESPACES" default:"false"`
	// RedeployOnVariableChange watches the variable groups' Secrets and
	// rolls the Deployments that read a group changed outside a deployment.
	RedeployOnVariableChange bool `envconfig:"REDEPLOY_ON_VARIABLE_CHANGE" default:"false"`

	// HTTPAddr serves /healthz, /readyz and /metrics.
	HTTPAddr string `envconfig:"HTTP_ADDR" default:":8080"`
	// DebugAddr, when set, serves Go's pprof profiles under /debug/pprof/
	// on a listener of its own; empty turns it off.
	DebugAddr string `envconfig:"DEBUG_ADDR" default:""`
	// ShutdownGrace bounds how long in-flight tasks may run after SIGTERM.
	ShutdownGrace time.Duration `envconfig:"SHUTDOWN_GRACE" default:"30s"`

	// TracingEnabled exports OpenTelemetry spans over OTLP/gRPC to the
	// endpoint of the standard OTEL_EXPORTER_OTLP_ENDPOINT or
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variables.
	TracingEnabled bool `envconfig:"TRACING_ENABLED" default:"false"`
	// CDEventsEnabled also publishes a CDEvent for each deployment,
	// upgrade, rollback and removal of a service.
	CDEventsEnabled bool `envconfig:"CDEVENTS_ENABLED" default:"false"`
	// CDEventsSubjectPrefix starts the NATS subject of every CDEvent,
	// followed by its subject and predicate (dev.cdevents.service.deployed).
	CDEventsSubjectPrefix string `envconfig:"CDEVENTS_SUBJECT_PREFIX" default:"dev.cdevents"`

	// LogLevel is debug, info, warn or error.
	LogLevel string `envconfig:"LOG_LEVEL" default:"info"`
	// LogFormat is json or text.
	LogFormat string `envconfig:"LOG_FORMAT" default:"json"`
}

// Load reads the configuration from the environment and checks it.
func Load() (Config, error) {
	var c Config
	if err := envconfig.Process("", &c); err != nil {
		return Config{}, fmt.Errorf("read configuration from environment: %w", err)
	}
	if c.MaxParallelTasks == 0 {
		c.MaxParallelTasks = DefaultParallelTasks()
	}
	if c.OwnNamespace == "" {
		if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
			c.OwnNamespace = strings.TrimSpace(string(b))
		}
	}
	if c.AllowedNamespaces == "" {
		c.AllowedNamespaces = allowlist.Default(c.OwnNamespace)
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// serviceAccountNamespace holds the pod's namespace inside a cluster.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// DefaultParallelTasks is MAX_PARALLEL_TASKS when unset: Helm tasks mostly
// wait on the API server, so a few per CPU, at least 4.
func DefaultParallelTasks() int { return max(4, 2*runtime.NumCPU()) }

// Validate reports settings that cannot work.
func (c Config) Validate() error {
	if c.MaxParallelTasks < 1 {
		return fmt.Errorf("MAX_PARALLEL_TASKS must be at least 1, got %d", c.MaxParallelTasks)
	}
	if c.WaitTimeout <= 0 {
		return fmt.Errorf("WAIT_TIMEOUT must be positive, got %s", c.WaitTimeout)
	}
	if c.KubeQPS <= 0 || c.KubeBurst < 1 {
		return fmt.Errorf("KUBE_QPS and KUBE_BURST must be positive, got %v and %d", c.KubeQPS, c.KubeBurst)
	}
	if c.NATSMode != "jetstream" && c.NATSMode != "core" {
		return fmt.Errorf("NATS_MODE must be jetstream or core, got %q", c.NATSMode)
	}
	if c.AckWait < time.Second {
		return fmt.Errorf("NATS_ACK_WAIT must be at least 1s, got %s", c.AckWait)
	}
	if c.ChartFetchTimeout <= 0 {
		return fmt.Errorf("CHART_FETCH_TIMEOUT must be positive, got %s", c.ChartFetchTimeout)
	}
	if c.StreamMaxBytes < 1<<20 {
		return fmt.Errorf("NATS_STREAM_MAX_BYTES must be at least 1 MiB (1048576), got %d", c.StreamMaxBytes)
	}
	if c.NATSEmbeddedMaxStore < c.StreamMaxBytes {
		return fmt.Errorf("NATS_EMBEDDED_MAX_STORE (%d) must hold at least the stream, NATS_STREAM_MAX_BYTES (%d)", c.NATSEmbeddedMaxStore, c.StreamMaxBytes)
	}
	if c.NATSReplicas < 0 || c.NATSReplicas > 5 {
		return fmt.Errorf("NATS_REPLICAS must be 0 (3 on a NATS cluster of three or more servers, else 1) or 1 to 5, JetStream's limit, got %d", c.NATSReplicas)
	}
	if c.MaxDeliver < 2 {
		return fmt.Errorf("NATS_MAX_DELIVER must be at least 2, got %d", c.MaxDeliver)
	}
	if c.MaxQueuedTasks < c.MaxParallelTasks {
		return fmt.Errorf("MAX_QUEUED_TASKS (%d) must be at least MAX_PARALLEL_TASKS (%d)", c.MaxQueuedTasks, c.MaxParallelTasks)
	}
	if c.LedgerTTL <= 0 {
		return fmt.Errorf("LEDGER_TTL must be positive, got %s", c.LedgerTTL)
	}
	if c.MaxEventBytes < 1024 {
		return fmt.Errorf("MAX_EVENT_BYTES must be at least 1024, got %d", c.MaxEventBytes)
	}
	if c.MaxChartBytes < 1024 {
		return fmt.Errorf("MAX_CHART_BYTES must be at least 1024, got %d", c.MaxChartBytes)
	}
	if c.PendingReleaseAge <= 0 {
		return fmt.Errorf("PENDING_RELEASE_AGE must be positive, got %s", c.PendingReleaseAge)
	}
	if c.PendingRetryTimeout < 0 {
		return fmt.Errorf("PENDING_RETRY_TIMEOUT must not be negative, got %s", c.PendingRetryTimeout)
	}
	if c.ClusterRetryTimeout < 0 {
		return fmt.Errorf("CLUSTER_RETRY_TIMEOUT must not be negative, got %s", c.ClusterRetryTimeout)
	}
	if c.LockTTL < time.Second {
		return fmt.Errorf("LOCK_TTL must be at least 1s, got %s", c.LockTTL)
	}
	if _, err := allowlist.Parse(c.AllowedNamespaces); err != nil {
		return err
	}
	if _, err := kube.ParseNamespaceTemplate(c.NamespaceTemplate); err != nil {
		return fmt.Errorf("NAMESPACE_TEMPLATE: %w", err)
	}
	if _, err := c.Rollout(); err != nil {
		return err
	}
	if c.MaxReplicas < 0 {
		return fmt.Errorf("MAX_REPLICAS must not be negative, got %d", c.MaxReplicas)
	}
	if c.Source == "" {
		return fmt.Errorf("EVENT_SOURCE must not be empty")
	}
	if c.RouteMode != "canary" && c.RouteMode != "dark" {
		return fmt.Errorf("ROUTE_MODE must be canary or dark, got %q", c.RouteMode)
	}
	switch c.TrafficRouter {
	case "service", "gatewayapi", "istio":
	default:
		return fmt.Errorf("TRAFFIC_ROUTER must be service, gatewayapi or istio, got %q", c.TrafficRouter)
	}
	if err := c.validateChartSource(); err != nil {
		return err
	}
	if _, err := c.SlogLevel(); err != nil {
		return err
	}
	if c.DebugAddr != "" && c.DebugAddr == c.HTTPAddr {
		return fmt.Errorf("DEBUG_ADDR must differ from HTTP_ADDR (%s): profiles are never served on the public port", c.HTTPAddr)
	}
	if c.DebugAddr != "" && !onLoopback(c.DebugAddr) {
		return fmt.Errorf("DEBUG_ADDR %q listens beyond loopback: profiles show the process's memory, so they are served on loopback only (e.g. 127.0.0.1:6060); reach them with kubectl port-forward", c.DebugAddr)
	}
	if _, err := charts.ParseRefAllowlist(c.ChartRefAllowed); err != nil {
		return err
	}
	if _, err := kube.ParseNamespaceLabels(c.NamespaceLabels); err != nil {
		return err
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		return fmt.Errorf("LOG_FORMAT must be json or text, got %q", c.LogFormat)
	}
	return nil
}

// validateChartSource checks the settings of CHART_SOURCE.
func (c Config) validateChartSource() error {
	switch c.ChartSource {
	case "dir":
	case "oci":
		if c.ChartRegistry == "" && strings.Contains(c.ChartOCITemplate, ".Registry") {
			return fmt.Errorf("CHART_SOURCE=oci needs CHART_REGISTRY, which CHART_OCI_TEMPLATE %q uses", c.ChartOCITemplate)
		}
	case "git":
		if c.ChartGitURL == "" {
			return fmt.Errorf("CHART_SOURCE=git needs CHART_GIT_URL")
		}
	default:
		return fmt.Errorf("CHART_SOURCE must be dir, oci or git, got %q", c.ChartSource)
	}
	if c.ChartGitPassword != "" && c.ChartGitToken != "" {
		return fmt.Errorf("set CHART_GIT_PASSWORD or CHART_GIT_TOKEN, not both")
	}
	if c.ChartCacheMaxEntries < 0 || c.ChartCacheMaxBytes < 0 {
		return fmt.Errorf("CHART_CACHE_MAX_ENTRIES and CHART_CACHE_MAX_BYTES must not be negative, got %d and %d", c.ChartCacheMaxEntries, c.ChartCacheMaxBytes)
	}
	return nil
}

// SlogLevel returns LOG_LEVEL as a slog level.
func (c Config) SlogLevel() (slog.Level, error) {
	var l slog.Level
	if err := l.UnmarshalText([]byte(strings.ToUpper(c.LogLevel))); err != nil {
		return 0, fmt.Errorf("LOG_LEVEL must be debug, info, warn or error, got %q", c.LogLevel)
	}
	return l, nil
}

// Rollout returns the default update strategy of Deployments.
func (c Config) Rollout() (kube.Rollout, error) {
	return kube.ParseRollout(c.RolloutStrategy, c.RolloutMaxSurge, c.RolloutMaxUnavailable,
		kube.RolloutFields{Type: "ROLLOUT_STRATEGY", MaxSurge: "ROLLOUT_MAX_SURGE", MaxUnavailable: "ROLLOUT_MAX_UNAVAILABLE"})
}

// onLoopback reports whether a host:port address listens on loopback only.
func onLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// ChartRefs is CHART_REF_ALLOWED, parsed; Validate has refused a bad one.
func (c Config) ChartRefs() charts.RefAllowlist {
	a, _ := charts.ParseRefAllowlist(c.ChartRefAllowed)
	return a
}

// NamespaceLabelSet is NAMESPACE_LABELS, parsed; Validate has refused a
// bad one.
func (c Config) NamespaceLabelSet() map[string]string {
	labels, _ := kube.ParseNamespaceLabels(c.NamespaceLabels)
	return labels
}
