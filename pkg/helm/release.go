package helm

import (
	"fmt"
	"slices"
	"sort"
	"time"

	"helm.sh/helm/v3/pkg/chart"
	"helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/releaseutil"
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
	for _, o := range objects {
		ns := o.Metadata.Namespace
		if ns == "" {
			ns = rel.Namespace
		}
		switch o.Kind {
		case "Service":
			s := Service{Name: o.Metadata.Name, Namespace: ns}
			if len(o.Spec.Ports) > 0 {
				s.Port = o.Spec.Ports[0].Port
			}
			r.Services = append(r.Services, s)
		case "Deployment", "StatefulSet":
			r.Workloads = append(r.Workloads, kube.Workload{Kind: o.Kind, Namespace: ns, Name: o.Metadata.Name})
			for _, c := range o.Spec.Template.Spec.Containers {
				if c.Image != "" && !slices.Contains(r.Images, c.Image) {
					r.Images = append(r.Images, c.Image)
				}
			}
		}
	}
	return r, nil
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
		Template struct {
			Spec struct {
				Containers []struct {
					Image string `json:"image"`
				} `json:"containers"`
			} `json:"spec"`
		} `json:"template"`
	} `json:"spec"`
}

// manifestObjects decodes a rendered manifest in document order.
func manifestObjects(manifest string) ([]manifestObject, error) {
	docs := releaseutil.SplitManifests(manifest)
	keys := make([]string, 0, len(docs))
	for k := range docs {
		keys = append(keys, k)
	}
	sort.Sort(releaseutil.BySplitManifestsOrder(keys))
	objects := make([]manifestObject, 0, len(keys))
	for _, k := range keys {
		var o manifestObject
		if err := yaml.Unmarshal([]byte(docs[k]), &o); err != nil {
			return nil, err
		}
		if o.Kind != "" {
			objects = append(objects, o)
		}
	}
	return objects, nil
}
