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
	records, err := releases.Find(ctx, helm.AllNamespaces, filter)
	if err != nil {
		return fmt.Errorf("read Helm releases of cluster %s: %w", restConfig.Host, err)
	}
	services := groupServices(records)
	routers := routersFor(*routerName, clientset, dyn)
	for i := range services {
		s := &services[i]
		for j := range s.Releases {
			s.Releases[j].Images = imagesOf(ctx, clientset, records, s.Namespace, s.Releases[j].Name)
		}
		if s.Strategy == string(events.StrategyBlueGreen) {
			s.Traffic, err = trafficOf(ctx, routers, *s, records)
			if err != nil {
				s.TrafficError = err.Error()
			}
		}
	}
	if *output == "json" {
		enc := json.NewEncoder(os.Stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(services)
	}
	return printStatusTable(os.Stdout, services)
}

// groupServices groups the release records carrying a Keptn service label
// by namespace and service, sorted, with each service's releases sorted by
// name.
func groupServices(records []*helm.Record) []serviceStatus {
	byKey := map[string]*serviceStatus{}
	for _, r := range records {
		service := r.Labels[kube.LabelService]
		if service == "" {
			continue // not deployed by helm-service
		}
		key := r.Namespace + "/" + service
		s, ok := byKey[key]
		if !ok {
			s = &serviceStatus{Project: r.Labels[kube.LabelProject], Stage: r.Labels[kube.LabelStage], Service: service, Namespace: r.Namespace}
			byKey[key] = s
		}
		deployment := cmp.Or(r.Labels[kube.LabelDeployment], string(events.StrategyDirect))
		strategy := cmp.Or(r.Labels[kube.LabelStrategy], deployment)
		if deployment == "primary" || deployment == "canary" || s.Strategy == "" {
			s.Strategy = strategy
		}
		s.Releases = append(s.Releases, releaseStatus{
			Name: r.Name, Deployment: deployment, Revision: r.Revision, Status: r.Status,
			Chart: r.ChartName, ChartVersion: r.ChartVersion, Updated: r.Updated,
		})
	}
	out := make([]serviceStatus, 0, len(byKey))
	for _, s := range byKey {
		slices.SortFunc(s.Releases, func(a, b releaseStatus) int { return strings.Compare(a.Name, b.Name) })
		out = append(out, *s)
	}
	slices.SortFunc(out, func(a, b serviceStatus) int {
		return cmp.Or(strings.Compare(a.Namespace, b.Namespace), strings.Compare(a.Service, b.Service))
	})
	return out
}

// recordOf finds a release's record.
func recordOf(records []*helm.Record, namespace, name string) *helm.Record {
	for _, r := range records {
		if r.Namespace == namespace && r.Name == name {
			return r
		}
	}
	return nil
}

// imagesOf reads the images of a release's workloads from the cluster; a
// workload that cannot be read is shown with the reason.
func imagesOf(ctx context.Context, cs kubernetes.Interface, records []*helm.Record, namespace, name string) []string {
	r := recordOf(records, namespace, name)
	if r == nil {
		return nil
	}
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
// that routes it. The stable endpoints are named after the primary's
// Services.
func trafficOf(ctx context.Context, routers []namedRouter, s serviceStatus, records []*helm.Record) (*trafficStatus, error) {
	primary, canary := s.Service+"-primary", s.Service+"-canary"
	r := recordOf(records, s.Namespace, primary)
	if r == nil {
		return nil, fmt.Errorf("no release %s/%s", s.Namespace, primary)
	}
	t := routing.Target{Namespace: s.Namespace, Service: s.Service}
	for _, svc := range r.Services {
		if b, ok := routing.BlueGreenBackend(s.Service, primary, canary, primary, svc.Name, svc.Port); ok {
			t.Backends = append(t.Backends, b)
		}
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
				s.Namespace, s.Service, s.Strategy, r.Name, r.Revision, r.Status,
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
	case r.Deployment == "primary":
		return fmt.Sprintf("%d%% (%s)", s.Traffic.Primary, s.Traffic.Router)
	case r.Deployment == "canary":
		return fmt.Sprintf("%d%% (%s)", s.Traffic.Canary, s.Traffic.Router)
	}
	return "-"
}
