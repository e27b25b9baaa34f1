package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"time"

	"go.opentelemetry.io/otel/trace"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/handler"
	"github.com/helm-service/helm-service/pkg/config"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/helm/reconcile"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/kvretry"
	"github.com/helm-service/helm-service/pkg/lease"
	"github.com/helm-service/helm-service/pkg/ledger"
	"github.com/helm-service/helm-service/pkg/metrics"
	"github.com/helm-service/helm-service/pkg/routing"
	"github.com/helm-service/helm-service/pkg/tracing"
	"github.com/helm-service/helm-service/pkg/vargroups"
)

// serve runs the service until ctx is cancelled (SIGINT or SIGTERM).
func serve(ctx context.Context) error {
	cfg, err := config.Load()
	if err != nil {
		return err
	}
	log := newLogger(cfg.Observability)
	tracerProvider, shutdownTracing, err := tracing.NewProvider(ctx, tracing.Settings{Enabled: cfg.Observability.TracingEnabled, ServiceName: cfg.Bus.Source, Version: version})
	if err != nil {
		return err
	}
	defer func() {
		flushCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := shutdownTracing(flushCtx); err != nil {
			log.Warn("cannot flush the last spans", "error", err)
		}
	}()
	// One registry per process, handed to the bus, the dispatcher and the
	// Helm client; served on HTTP_ADDR at /metrics.
	m := metrics.New()

	natsURL := cfg.Bus.URL
	if natsURL == "" {
		ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: cfg.Bus.Listen, DataDir: cfg.Bus.DataDir, Auth: natsAuth(cfg.Bus), MaxStore: cfg.Bus.EmbeddedMaxStore})
		if err != nil {
			return err
		}
		defer ns.Shutdown()
		natsURL = ns.ClientURL()
		log.Info("started embedded NATS server", "url", natsURL)
	}
	bus, err := eventbus.Connect(ctx, eventbus.Options{
		URL:            natsURL,
		Mode:           eventbus.Mode(cfg.Bus.Mode),
		Name:           cfg.Bus.Source,
		Auth:           natsAuth(cfg.Bus),
		MaxInFlight:    cfg.Delivery.MaxQueuedTasks,
		MaxEventBytes:  cfg.Bus.MaxEventBytes,
		Stream:         cfg.Bus.Stream,
		StreamMaxAge:   cfg.Bus.StreamMaxAge,
		StreamMaxBytes: cfg.Bus.StreamMaxBytes,
		Replicas:       cfg.Bus.Replicas,
		AckWait:        cfg.Bus.AckWait,
		MaxDeliver:     cfg.Bus.MaxDeliver,
		Log:            log,
		Observer:       m,
	})
	if err != nil {
		return err
	}
	defer bus.Close()
	// What helm-service sends is bounded like what it takes, and by what
	// the server takes: an answer it cannot publish would be lost.
	eventLimit := min(cfg.Bus.MaxEventBytes, bus.MaxEventBytes())
	if bus.MaxEventBytes()+eventbus.HeaderAllowance < cfg.Bus.MaxEventBytes {
		log.Warn("the NATS server's max_payload is below MAX_EVENT_BYTES: answers are cut to the server's limit", "maxEventBytes", cfg.Bus.MaxEventBytes, "serverLimit", bus.MaxEventBytes())
	}
	var taskLedger handler.Ledger
	var leases handler.Leases
	if bus.Mode() == eventbus.ModeJetStream {
		kv, err := bus.KeyValue(ctx, cfg.Delivery.LedgerBucket, cfg.Delivery.LedgerTTL)
		if err != nil {
			return err
		}
		// The last run of a release counts in the sequence numbers of
		// this stream: one created again, or another, starts over.
		stream, err := bus.StreamIdentity(ctx)
		if err != nil {
			return err
		}
		// Key-value operations are tried again through a JetStream leader
		// election rather than taken as lost.
		taskLedger = ledger.New(kvretry.New(kv), ledger.InStream(stream))
		locks, err := bus.LeaseBucket(ctx, cfg.Delivery.LockBucket, cfg.Delivery.LockTTL)
		if err != nil {
			return err
		}
		holder := lease.Holder()
		leases = lease.New(kvretry.New(locks, kvretry.WithBudget(cfg.Delivery.LeaseRenewal())), holder, cfg.Delivery.LockTTL, log)
		log.Info("release leases", "bucket", cfg.Delivery.LockBucket, "holder", holder, "ttl", cfg.Delivery.LockTTL.String())
	} else {
		log.Warn("NATS_MODE=core: events are delivered at most once; one that arrives while helm-service is down or restarting is lost; tasks for one release are serialized within each replica only")
	}
	allowed := cfg.Namespaces.Allowed

	cl, err := connectCluster(ctx, log, cfg, m)
	if err != nil {
		return err
	}
	limitHelmLoader(cfg.Charts.MaxBytes)
	chartSrc, err := chartSource(cfg.Charts)
	if err != nil {
		return err
	}
	deployment := handler.NewDeployment(chartSrc, cl.namespaces, cl.releases, cl.router, cl.scaler, handler.DeploymentSettings{
		WaitTimeout:       cfg.Deploy.WaitTimeout,
		PublicURITemplate: cfg.Deploy.PublicURITemplate,
		IngressProtocol:   cfg.Deploy.IngressProtocol,
		IngressSuffix:     cfg.Deploy.IngressHostnameSuffix,
		IngressPort:       cfg.Deploy.IngressPort,
		RouteMode:         cfg.Traffic.RouteMode,
		Rollout:           cfg.Deploy.Rollout,
		ChartRefs:         cfg.Charts.RefAllowed.RefAllowlist,
	})
	if cl.renderer != nil {
		deployment.WithPreview(cl.renderer, cl.dryRun, eventLimit)
	}
	if cl.variables != nil {
		deployment.WithVariables(cl.variables)
		if cfg.Deploy.RedeployOnVariableChange {
			redeployer := vargroups.Redeployer{Store: *cl.variables, Allow: allowed.Allow, Log: log}
			go func() {
				if err := redeployer.Run(ctx); err != nil {
					log.Error("watching variable groups stopped", "error", err)
				}
			}()
		}
	}
	lifecycle := handler.LifecycleSettings{WaitTimeout: cfg.Deploy.WaitTimeout, RollbackDirectOnFail: cfg.Deploy.RollbackDirectOnFail}
	release := handler.NewRelease(cl.releases, cl.router, cl.scaler, lifecycle)
	if cl.variables != nil {
		release.WithVariables(cl.variables)
	}
	if cl.renderer != nil {
		release.WithPreview(cl.renderer, cl.dryRun, eventLimit)
	}
	rollback := handler.NewRollback(cl.releases, cl.router, cl.scaler, lifecycle)
	action := handler.NewAction(cl.releases, cl.router, cl.scaler, cl.restarter, handler.ActionSettings{MaxReplicas: cfg.Deploy.MaxReplicas, WaitTimeout: cfg.Deploy.WaitTimeout, RouteMode: cfg.Traffic.RouteMode})
	serviceDelete := handler.NewServiceDelete(cl.releases, cl.router, cl.namespaces, handler.ServiceDeleteSettings{
		WaitTimeout:           cfg.Deploy.WaitTimeout,
		DeleteEmptyNamespaces: cfg.Removal.DeleteEmptyNamespaces,
		EventSources:          cfg.Removal.EventSources,
		AllowNamespace:        allowed.Allow,
	})
	if cl.variables != nil {
		serviceDelete.WithVariables(cl.variables)
	}
	if cl.ownership != nil {
		serviceDelete.WithOwnership(cl.ownership.Namespaces)
	}
	opts := dispatcherOptions(cfg, taskLedger, leases, tracerProvider, m)
	opts.Ownership = cl.ownership
	opts.MaxEventBytes = eventLimit
	dispatcher := handler.NewDispatcher(cfg.Bus.Source, bus, log, []handler.Task{deployment, release, rollback, action, serviceDelete}, opts)

	// Tasks run under their own context: SIGTERM stops new work at once but
	// gives running tasks the grace period before they are cancelled.
	taskCtx, cancelTasks := context.WithCancel(context.WithoutCancel(ctx))
	defer cancelTasks()
	if err := bus.Subscribe(taskCtx, dispatcher.Subjects(), cfg.Bus.QueueGroup, dispatcher.Handle); err != nil {
		return err
	}

	httpServer := &http.Server{Addr: cfg.Server.HTTPAddr, Handler: healthHandler(bus, m.Handler()), ReadHeaderTimeout: 5 * time.Second}
	httpErr := make(chan error, 1)
	go func() { httpErr <- httpServer.ListenAndServe() }()
	debugErr := make(chan error, 1)
	if cfg.Server.DebugAddr != "" {
		debugServer := &http.Server{Addr: cfg.Server.DebugAddr, Handler: debugHandler(), ReadHeaderTimeout: 5 * time.Second}
		go func() { debugErr <- debugServer.ListenAndServe() }()
		defer debugServer.Close()
		log.Info("serving pprof profiles", "debug", cfg.Server.DebugAddr)
	}

	log.Info("helm-service is running", "subjects", dispatcher.Subjects(), "mode", cfg.Bus.Mode, "queueGroup", cfg.Bus.QueueGroup, "maxParallelTasks", cfg.Delivery.MaxParallelTasks, "allowedNamespaces", cfg.Namespaces.Allowed.Text, "chartSource", cfg.Charts.Source, "chartDir", cfg.Charts.Dir, "http", cfg.Server.HTTPAddr)
	select {
	case <-ctx.Done():
	case err := <-httpErr:
		return fmt.Errorf("serve HTTP on %s (set HTTP_ADDR): %w", cfg.Server.HTTPAddr, err)
	case err := <-debugErr:
		return fmt.Errorf("serve pprof on %s (set DEBUG_ADDR): %w", cfg.Server.DebugAddr, err)
	}

	log.Info("shutting down: no new tasks; waiting for running ones", "grace", cfg.Server.ShutdownGrace.String())
	graceCtx, cancelGrace := context.WithTimeout(context.Background(), cfg.Server.ShutdownGrace)
	defer cancelGrace()
	// Queued tasks are handed back at once, for another replica or the next
	// start; running ones get the grace period.
	dispatcher.StopAccepting()
	if err := bus.Drain(graceCtx); err != nil {
		log.Warn("grace period over: cancelling running tasks", "error", err)
		cancelTasks()
		lastCtx, cancelLast := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancelLast()
		_ = bus.Drain(lastCtx)
	}
	shutdownCtx, cancelShutdown := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelShutdown()
	_ = httpServer.Shutdown(shutdownCtx)
	log.Info("stopped")
	return nil
}

// dispatcherOptions are the dispatcher's options from the configuration.
// Every value that handler or answer would default is set from cfg, so
// that the running service never runs on a package's default.
func dispatcherOptions(cfg config.Config, taskLedger handler.Ledger, leases handler.Leases, tracerProvider trace.TracerProvider, observer handler.Observer) handler.Options {
	return handler.Options{
		MaxParallel:         cfg.Delivery.MaxParallelTasks,
		Ledger:              taskLedger,
		Heartbeat:           cfg.Bus.Heartbeat(),
		PublishTimeout:      cfg.Server.PublishTimeout(),
		AllowNamespace:      cfg.Namespaces.Allowed.Allow,
		Leases:              leases,
		ClusterRetryTimeout: cfg.Retry.ClusterRetryTimeout,
		PendingRetryTimeout: cfg.Retry.PendingRetryTimeout,
		RetryBackoff:        cfg.Retry.Backoff(),
		TracerProvider:      tracerProvider,
		CDEvents:            cdeventsOptions(cfg.Bus.Source, cfg.Observability),
		NamespaceTemplate:   cfg.Namespaces.Template.NamespaceTemplate,
		Observer:            observer,
	}
}

// cluster holds the collaborators that act on the Kubernetes cluster;
// handler.NoCluster, and no variable groups, when none is configured.
type cluster struct {
	namespaces handler.Namespaces
	releases   handler.Releases
	router     handler.Router
	scaler     handler.Scaler
	restarter  handler.Restarter
	variables  *vargroups.Store
	// ownership is nil without a cluster.
	ownership *handler.Ownership
	// renderer and dryRun serve dry runs; nil without a cluster.
	renderer handler.Renderer
	dryRun   *kube.DryRun
}

// connectCluster finds the Kubernetes cluster. With none configured it
// returns handler.NoCluster for each collaborator, and the service answers
// every task with an error saying so.
func connectCluster(ctx context.Context, log *slog.Logger, cfg config.Config, observer helm.Observer) (cluster, error) {
	restConfig, from, err := kube.LoadConfig()
	if errors.Is(err, kube.ErrNoCluster) {
		log.Warn("no Kubernetes cluster configured: every task will be answered with an error until helm-service is restarted with KUBECONFIG set or inside a cluster")
		none := handler.NoCluster{}
		return cluster{namespaces: none, releases: none, router: none, scaler: none, restarter: none}, nil
	}
	if err != nil {
		return cluster{}, err
	}
	restConfig.UserAgent = "helm-service"
	restConfig.QPS, restConfig.Burst = cfg.Cluster.KubeQPS, cfg.Cluster.KubeBurst
	own, err := kubernetes.NewForConfig(kube.Protobuf(restConfig))
	if err != nil {
		return cluster{}, fmt.Errorf("client for cluster %s: %w", restConfig.Host, err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	reachable := true
	if _, err := own.CoreV1().RESTClient().Get().AbsPath("/version").Do(pingCtx).Raw(); err != nil {
		reachable = false
		log.Warn("Kubernetes cluster not reachable now; tasks will fail until it is", "host", restConfig.Host, "from", from, "error", err)
	} else {
		log.Info("using Kubernetes cluster", "host", restConfig.Host, "from", from)
	}
	// taskConfig is what tasks talk to the cluster with: with
	// impersonation, a request in namespace N acts as N's deployer; the
	// ones that name no namespace (namespaces, discovery, lists across
	// every namespace) go as helm-service itself.
	taskConfig := restConfig
	var deployer *kube.Deployer
	if cfg.Cluster.Impersonate {
		deployer = &kube.Deployer{Clientset: own, Account: cfg.Cluster.DeployerAccount, Role: cfg.Cluster.DeployerRole}
		if reachable {
			checkCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
			defer cancel()
			if err := deployer.CheckRights(checkCtx); err != nil {
				return cluster{}, err
			}
		}
		taskConfig = deployer.Impersonating(restConfig)
		log.Info("tasks act as the deployer of their namespace", "serviceAccount", cfg.Cluster.DeployerAccount, "role", cfg.Cluster.DeployerRole)
	} else {
		log.Warn("IMPERSONATE=false: tasks act with helm-service's own identity; charts and triggers must be trusted as that identity is")
	}
	clientset, err := kubernetes.NewForConfig(kube.Protobuf(taskConfig))
	if err != nil {
		return cluster{}, fmt.Errorf("client for cluster %s: %w", restConfig.Host, err)
	}
	router, err := newRouter(cfg.Traffic, taskConfig, clientset)
	if err != nil {
		return cluster{}, err
	}
	meta, err := metadata.NewForConfig(taskConfig)
	if err != nil {
		return cluster{}, fmt.Errorf("metadata client for cluster %s: %w", restConfig.Host, err)
	}
	releases := helm.NewClient(restConfig, clientset, log)
	releases.SetFailFast(cfg.Deploy.FailFast)
	releases.SetAllowedClusterKinds(cfg.Namespaces.ClusterKinds.ClusterKinds)
	releases.SetMaxHistory(cfg.Deploy.MaxHistory)
	releases.SetObserver(observer)
	if deployer != nil {
		releases.SetIdentity(deployer.ActAs)
	}
	// A dry run's server-side apply acts as the deployer, as a deployment does.
	dryRun, err := kube.NewDryRun(taskConfig)
	if err != nil {
		return cluster{}, err
	}
	namespaces := kube.Namespaces{Clientset: clientset, Metadata: meta, Labels: cfg.Namespaces.Labels, Deployer: deployer}
	reconciled := reconcile.New(releases, cfg.Retry.PendingReleaseAge, log)
	return cluster{
		renderer:   releases,
		dryRun:     dryRun,
		namespaces: namespaces,
		releases:   reconciled,
		router:     router,
		scaler:     kube.Scaler{Clientset: clientset},
		restarter:  kube.Scaler{Clientset: clientset},
		variables:  &vargroups.Store{Clientset: clientset},
		ownership: &handler.Ownership{
			Namespaces:     namespaces,
			Releases:       reconciled,
			AdoptNamespace: cfg.Namespaces.AdoptNamespaces.Matches,
			AdoptRelease:   cfg.Namespaces.AdoptReleases.Matches,
		},
	}, nil
}

// newRouter returns the blue/green traffic router TRAFFIC_ROUTER names.
func newRouter(cfg config.Traffic, restConfig *rest.Config, clientset kubernetes.Interface) (handler.Router, error) {
	if cfg.Router == "service" {
		return routing.ServiceRouter{Clientset: clientset}, nil
	}
	dyn, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		return nil, fmt.Errorf("dynamic client for cluster %s: %w", restConfig.Host, err)
	}
	if cfg.Router == "istio" {
		return routing.NewIstioRouter(dyn, clientset, cfg.IstioGateways), nil
	}
	return routing.NewGatewayAPIRouter(dyn, clientset, routing.GatewayRef{Name: cfg.GatewayName, Namespace: cfg.GatewayNamespace}), nil
}

// cdeventsOptions are the CDEvents settings, nil when they are off.
func cdeventsOptions(source string, cfg config.Observability) *handler.CDEventsOptions {
	if !cfg.CDEventsEnabled {
		return nil
	}
	return &handler.CDEventsOptions{Source: source, SubjectPrefix: cfg.CDEventsSubjectPrefix}
}

// natsAuth is the NATS credentials of the configuration.
func natsAuth(cfg config.Bus) eventbus.Auth {
	return eventbus.Auth{
		User: cfg.User, Password: cfg.Password, Token: cfg.Token,
		CredsFile: cfg.CredsFile, NKeyFile: cfg.NKeyFile,
		TLSCAFile: cfg.TLSCA, TLSCertFile: cfg.TLSCert, TLSKeyFile: cfg.TLSKey,
	}
}

// healthHandler serves /healthz (the process is alive), /readyz (it is
// connected to NATS and can take work) and /metrics.
func healthHandler(bus *eventbus.Bus, metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metrics)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !bus.Connected() {
			http.Error(w, "not connected to NATS", http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	return mux
}

// newLogger writes to stderr at LOG_LEVEL in LOG_FORMAT.
func newLogger(cfg config.Observability) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if cfg.LogFormat == "text" {
		return slog.New(slog.NewTextHandler(os.Stderr, opts))
	}
	return slog.New(slog.NewJSONHandler(os.Stderr, opts))
}
