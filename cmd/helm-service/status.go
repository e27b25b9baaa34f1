package main

import (
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"slices"
	"strings"
	"text/tabwriter"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"

	"github.com/helm-service/helm-service/pkg/config"
	"github.com/helm-service/helm-service/pkg/deployed"
	"github.com/helm-service/helm-service/pkg/events"
	"github.com/helm-service/helm-service/pkg/helm"
	"github.com/helm-service/helm-service/pkg/kube"
	"github.com/helm-service/helm-service/pkg/routing"
)

// serviceStatus is one Keptn service in one stage, as status reports it.
type serviceStatus struct {
	Project   string `json:"project"`
	Stage     string `json:"stage"`
	Service   string `json:"service"`
	Namespace string `json:"namespace"`
	// Strategy is direct, user_managed or blue_green_service.
	Strategy string          `json:"strategy"`
	Releases []releaseStatus `json:"releases"`
	// Traffic is the split of a blue/green service, as its router reports
	// it; TrafficError says why it could not be read.
	Traffic      *trafficStatus `json:"traffic,omitempty"`
	TrafficError string         `json:"trafficError,omitempty"`
}

// releaseStatus is one Helm release of a service: the only one, or its
// primary or canary.
type releaseStatus struct {
	Name string `json:"name"`
	// Deployment is direct, user_managed, primary or canary.
	Deployment   string    `json:"deployment"`
	Revision     int       `json:"revision"`
	Status       string    `json:"status"`
	Chart        string    `json:"chart"`
	ChartVersion string    `json:"chartVersion"`
	Images       []string  `json:"images"`
	Updated      time.Time `json:"updated"`
}

// trafficStatus is a blue/green split and the router it was read from.
type trafficStatus struct {
	Router  string `json:"router"`
	Primary int    `json:"primary"`
	Canary  int    `json:"canary"`
}

// namedRouter is a traffic router and its TRAFFIC_ROUTER name.
type namedRouter struct {
	name string
	routing.Router
}

// status lists the releases helm-service manages in the cluster KUBECONFIG
// names, grouped by Keptn service.
func status(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("status", flag.ContinueOnError)
	project := fs.String("project", "", "only services of this Keptn project")
	stage := fs.String("stage", "", "only services of this stage")
	output := fs.String("o", "table", "output format: table or json")
	routerName := fs.String("router", config.TrafficRouterOr("auto"), "where blue/green traffic splits are read: auto, service, gatewayapi or istio")
	timeout := fs.Duration("timeout", 30*time.Second, "give up reading the cluster after this long")
	if err := fs.Parse(args); err != nil {
		return &exitError{exitUsage, err}
	}
	if fs.NArg() > 0 {
		return &exitError{exitUsage, fmt.Errorf("status takes no arguments, got %q", fs.Args())}
	}
	if *output != "table" && *output != "json" {
		return &exitError{exitUsage, fmt.Errorf("-o must be table or json, got %q", *output)}
	}
	switch *routerName {
	case "auto", "service", "gatewayapi", "istio":
	default:
		return &exitError{exitUsage, fmt.Errorf("--router must be auto, service, gatewayapi or istio, got %q", *routerName)}
	}

	restConfig, _, err := kube.LoadConfig()
	if err != nil {
		return err
	}
	restConfig.UserAgent = "helm-service status"
	restConfig.Timeout = *timeout
	clientset, err := kubernetes.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("client for cluster %s: %w", restConfig.Host, err)
	}
	dyn, err := dynamic.NewForConfig(restConfig)
	if err != nil {
		return fmt.Errorf("dynamic client for cluster %s: %w", restConfig.Host, err)
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()

	filter := map[string]string{}
	if *project != "" {
		filter[kube.LabelProject] = *project
	}
	if *stage != "" {
		filter[kube.LabelStage] = *stage
	}
	releases := helm.NewClient(restConfig, clientset, slog.New(slog.DiscardHandler))
	services, err := readStatus(ctx, releases, clientset, routersFor(*routerName, clientset, dyn), filter)
	if err != nil {
		return fmt.Errorf("read Helm releases of cluster %s: %w", restConfig.Host, err)
	}
	if *output == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(services)
	}
	return printStatusTable(os.Stdout, services)
}

// readStatus reads the services helm-service deployed whose release
// records carry the filter's labels, by namespace and service, each with
// its releases by name, the images their workloads run and, for
// blue/green, the traffic split.
func readStatus(ctx context.Context, releases deployed.Finder, cs kubernetes.Interface, routers []namedRouter, filter map[string]string) ([]serviceStatus, error) {
	records, err := releases.Find(ctx, helm.AllNamespaces, filter)
	if err != nil {
		return nil, err
	}
	services := deployed.Group(records)
	out := make([]serviceStatus, 0, len(services))
	for _, d := range services {
		out = append(out, statusOf(ctx, cs, routers, d))
	}
	return out, nil
}

// statusOf is what status reports of a service.
func statusOf(ctx context.Context, cs kubernetes.Interface, routers []namedRouter, d *deployed.Service) serviceStatus {
	s := serviceStatus{Project: d.Project(), Stage: d.Stage(), Service: d.Name, Namespace: d.Namespace, Strategy: string(d.Strategy)}
	for _, r := range d.Records() {
		s.Releases = append(s.Releases, releaseStatus{
			Name: r.Name, Deployment: d.Deployment(r), Revision: r.Revision, Status: r.Status,
			Chart: r.ChartName, ChartVersion: r.ChartVersion, Images: imagesOf(ctx, cs, r), Updated: r.Updated,
		})
	}
	if d.Strategy == events.StrategyBlueGreen {
		var err error
		if s.Traffic, err = trafficOf(ctx, routers, d); err != nil {
			s.TrafficError = err.Error()
		}
	}
	return s
}

// imagesOf reads the images of a release's workloads from the cluster; a
// workload that cannot be read is shown with the reason.
func imagesOf(ctx context.Context, cs kubernetes.Interface, r *helm.Record) []string {
	images := []string{}
	for _, w := range r.Workloads {
		got, err := kube.Images(ctx, cs, w)
		if err != nil {
			images = append(images, fmt.Sprintf("(%v)", err))
			continue
		}
		for _, img := range got {
			if !slices.Contains(images, img) {
				images = append(images, img)
			}
		}
	}
	return images
}

// routersFor returns the routers to read splits from: the one named, or
// for auto every router, the weighted ones first (they also keep a stable
// Service).
func routersFor(name string, cs kubernetes.Interface, dyn dynamic.Interface) []namedRouter {
	all := []namedRouter{
		{"gatewayapi", routing.NewGatewayAPIRouter(dyn, cs, routing.GatewayRef{})},
		{"istio", routing.NewIstioRouter(dyn, cs, nil)},
		{"service", routing.ServiceRouter{Clientset: cs}},
	}
	if name == "auto" {
		return all
	}
	for _, r := range all {
		if r.name == name {
			return []namedRouter{r}
		}
	}
	return nil
}

// trafficOf reads the split of a blue/green service from the first router
// that routes it.
func trafficOf(ctx context.Context, routers []namedRouter, d *deployed.Service) (*trafficStatus, error) {
	t, err := d.Target()
	if err != nil {
		return nil, err
	}
	var errs []error
	for _, router := range routers {
		split, err := router.Split(ctx, t)
		if err == nil {
			return &trafficStatus{Router: router.name, Primary: split.Primary, Canary: split.Canary}, nil
		}
		errs = append(errs, fmt.Errorf("%s: %w", router.name, err))
		if !errors.Is(err, routing.ErrNotRouted) {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// printStatusTable writes one line per release.
func printStatusTable(w io.Writer, services []serviceStatus) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAMESPACE\tSERVICE\tSTRATEGY\tRELEASE\tREVISION\tSTATUS\tIMAGE\tCHART\tTRAFFIC\tUPDATED")
	for _, s := range services {
		for _, r := range s.Releases {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n",
				s.Namespace, s.Service, cmp.Or(s.Strategy, "-"), r.Name, r.Revision, r.Status,
				cmp.Or(strings.Join(r.Images, ","), "-"), r.Chart+"-"+r.ChartVersion,
				trafficCell(s, r), r.Updated.UTC().Format(time.RFC3339))
		}
	}
	return tw.Flush()
}

// trafficCell is a release's share of its service's traffic.
func trafficCell(s serviceStatus, r releaseStatus) string {
	switch {
	case s.Strategy != string(events.StrategyBlueGreen):
		return "-"
	case s.Traffic == nil:
		return "unknown"
	case r.Deployment == string(deployed.Primary):
		return fmt.Sprintf("%d%% (%s)", s.Traffic.Primary, s.Traffic.Router)
	case r.Deployment == string(deployed.Canary):
		return fmt.Sprintf("%d%% (%s)", s.Traffic.Canary, s.Traffic.Router)
	}
	return "-"
}
