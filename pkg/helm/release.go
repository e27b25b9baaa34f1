package helm

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"sigs.k8s.io/yaml"

	"github.com/helm-service/helm-service/pkg/kube"
)

// Request asks for a release to be installed or upgraded.
type Request struct {
	Namespace string
	Name      string
	Chart     *chart.Chart
	// Values are the complete values the chart is rendered with.
	Values map[string]any
	// Labels are stored on the release record, to find the release later.
	// An upgrade merges them into the previous revision's labels; one
	// whose value is RemoveLabel is removed instead (and not stored by an
	// install).
	Labels map[string]string
	// Timeout bounds the wait for the release's workloads to be ready.
	Timeout time.Duration
	// ObjectLabels, when set, are added to every rendered object and to the
	// pod templates of its workloads (see LabelPostRenderer).
	ObjectLabels map[string]string
	// Replicas, when set, override the replicas the chart renders for the
	// given Deployments and StatefulSets, and are recorded on them (see
	// ReplicasPostRenderer). Namespaces of the keys are ignored.
	Replicas map[kube.Workload]int32
	// Rollout sets the update strategy of the chart's Deployments (see
	// RolloutPostRenderer); the zero value keeps the chart's.
	Rollout kube.Rollout
	// Variables, when set, gives the chart's workloads the variable groups
	// (see VariablesPostRenderer).
	Variables *VariablesPostRenderer
}

// RemoveLabel, as the value of a Request label, removes the label from the
// release record (Helm's rule for upgrades).
const RemoveLabel = "null"

// storedLabels are the labels an install stores: those not removed.
func storedLabels(labels map[string]string) map[string]string {
	out := make(map[string]string, len(labels))
	for k, v := range labels {
		if v != RemoveLabel {
			out[k] = v
		}
	}
	return out
}

// Result describes a release after an action.
type Result struct {
	Namespace string
	Name      string
	Revision  int
	Status    string
	// Services are the Services the release's manifest declares, in order.
	Services []Service
	// MainServiceName names the Service that selects the release's main
	// workload, or is empty when none does (see MainService).
	MainServiceName string
	// Workloads are the Deployments and StatefulSets of the release.
	Workloads []kube.Workload
	// Images are the container images of the workloads' pod templates,
	// each once, in manifest order.
	Images []string
	// ChartName and ChartVersion identify the chart the release runs.
	ChartName    string
	ChartVersion string
	// Recovered says how a release left pending by an interrupted
	// operation was recovered before the action, or is empty.
	Recovered string
	// RolledBackTo is, after a rollback, the revision whose chart and
	// values the new revision restored.
	RolledBackTo int
	// ForcedRecreate says which Deployments got Recreate instead of the
	// asked strategy because they mount a ReadWriteOnce claim.
	ForcedRecreate []string
	// Updated is when the revision was last deployed (or its deployment
	// last attempted).
	Updated time.Time
}

// Service is a Kubernetes Service of a release and its first port.
type Service struct {
	Name      string
	Namespace string
	Port      int32
}

// MainService returns the Service through which the release's main workload
// is reached: the one MainServiceName names, else the first Service. ok is
// false for a release without Services.
func (r *Result) MainService() (s Service, ok bool) {
	for _, s := range r.Services {
		if s.Name == r.MainServiceName {
			return s, true
		}
	}
	if len(r.Services) == 0 {
		return Service{}, false
	}
	return r.Services[0], true
}

func resultOf(rel *release.Release) (*Result, error) {
	r := &Result{Namespace: rel.Namespace, Name: rel.Name, Revision: rel.Version}
	if rel.Chart != nil && rel.Chart.Metadata != nil {
		r.ChartName, r.ChartVersion = rel.Chart.Metadata.Name, rel.Chart.Metadata.Version
	}
	if rel.Info != nil {
		r.Status = rel.Info.Status.String()
		r.Updated = rel.Info.LastDeployed.Time
	}
	objects, err := manifestObjects(rel.Manifest)
	if err != nil {
		return r, fmt.Errorf("read manifest of release %s/%s: %w", rel.Namespace, rel.Name, err)
	}
	var selectors []map[string]string // of r.Services
	var main *manifestObject
	for i, o := range objects {
		ns := o.Metadata.Namespace
		if ns == "" {
			ns = rel.Namespace
		}
		switch {
		case o.Kind == "Service":
			s := Service{Name: o.Metadata.Name, Namespace: ns}
			if len(o.Spec.Ports) > 0 {
				s.Port = o.Spec.Ports[0].Port
			}
			r.Services = append(r.Services, s)
			selectors = append(selectors, o.serviceSelector())
		case kube.Scaled(o.Kind):
			r.Workloads = append(r.Workloads, kube.Workload{Kind: o.Kind, Namespace: ns, Name: o.Metadata.Name})
			for _, c := range o.Spec.Template.Spec.Containers {
				if c.Image != "" && !slices.Contains(r.Images, c.Image) {
					r.Images = append(r.Images, c.Image)
				}
			}
			if main == nil || main.fromSubchart() && !o.fromSubchart() {
				main = &objects[i]
			}
		}
	}
	if main != nil {
		r.MainServiceName = serviceSelecting(r.Services, selectors, main)
	}
	return r, nil
}

// serviceSelecting names the Service whose selector matches the pod
// template labels of workload: of several, the one named like the
// workload, else the first. It returns "" when none does.
func serviceSelecting(services []Service, selectors []map[string]string, workload *manifestObject) string {
	pods := workload.Spec.Template.Metadata.Labels
	found := ""
	for i, s := range services {
		if !selects(selectors[i], pods) {
			continue
		}
		if s.Name == workload.Metadata.Name {
			return s.Name
		}
		if found == "" {
			found = s.Name
		}
	}
	return found
}

// selects says whether a Service selector picks pods with these labels, as
// Kubernetes matches them. An empty selector selects no pods (a Service
// without one has its endpoints managed elsewhere).
func selects(selector, labels map[string]string) bool {
	if len(selector) == 0 {
		return false
	}
	for k, v := range selector {
		if got, ok := labels[k]; !ok || got != v {
			return false
		}
	}
	return true
}

// manifestObject is the part of a rendered object helm-service reads.
type manifestObject struct {
	Kind     string `json:"kind"`
	Metadata struct {
		Name      string `json:"name"`
		Namespace string `json:"namespace"`
	} `json:"metadata"`
	Spec struct {
		Ports []struct {
			Port int32 `json:"port"`
		} `json:"ports"`
		// Selector is a Service's label map, or a workload's label
		// selector.
		Selector json.RawMessage `json:"selector"`
		Template struct {
			Metadata struct {
				Labels map[string]string `json:"labels"`
			} `json:"metadata"`
			Spec struct {
				Containers []struct {
					Image string `json:"image"`
				} `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`

	// source is the chart file the object was rendered from, as Helm
	// records it: <chart>/templates/... or <chart>/charts/<subchart>/....
	source string
}

// serviceSelector is a Service's selector; nil when it has none, or one
// that is not a map of strings.
func (o *manifestObject) serviceSelector() map[string]string {
	var sel map[string]string
	if len(o.Spec.Selector) == 0 || json.Unmarshal(o.Spec.Selector, &sel) != nil {
		return nil
	}
	return sel
}

// fromSubchart says whether the object was rendered from a subchart's
// template rather than from the chart's own.
func (o *manifestObject) fromSubchart() bool {
	parts := strings.SplitN(o.source, "/", 3)
	return len(parts) == 3 && parts[1] == "charts"
}

// sourcePrefix starts the comment Helm writes above each object of a
// release manifest, naming the template it came from.
const sourcePrefix = "# Source: "

// manifestSource returns the template a manifest document names in the
// "# Source:" comment above its object, or "".
func manifestSource(doc string) string {
	for _, line := range strings.Split(doc, "\n") {
		line = strings.TrimSpace(line)
		if rest, ok := strings.CutPrefix(line, sourcePrefix); ok {
			return strings.TrimSpace(rest)
		}
		if line != "" && !strings.HasPrefix(line, "#") {
			return "" // the object begins: a comment in it is the chart's own
		}
	}
	return ""
}

// manifestObjects decodes a rendered manifest in document order.
func manifestObjects(manifest string) ([]manifestObject, error) {
	docs := orderedDocs(manifest)
	objects := make([]manifestObject, 0, len(docs))
	for _, doc := range docs {
		var o manifestObject
		if err := yaml.Unmarshal([]byte(doc), &o); err != nil {
			return nil, err
		}
		if o.Kind != "" {
			o.source = manifestSource(doc)
			objects = append(objects, o)
		}
	}
	return objects, nil
}
