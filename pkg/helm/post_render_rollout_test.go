package helm

import (
	"bytes"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"

	"github.com/helm-service/helm-service/pkg/kube"
)

const rolloutManifest = `---
apiVersion: v1
kind: PersistentVolumeClaim
metadata:
  name: data
spec:
  accessModes: [ReadWriteOnce]
  resources: {requests: {storage: 1Gi}}
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      containers: [{name: web, image: "web:1"}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: db
spec:
  selector: {matchLabels: {app: db}}
  template:
    metadata: {labels: {app: db}}
    spec:
      containers: [{name: db, image: "db:1"}]
      volumes: [{name: data, persistentVolumeClaim: {claimName: data}}]
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: cache
spec:
  selector: {matchLabels: {app: cache}}
  template:
    metadata: {labels: {app: cache}}
    spec:
      containers: [{name: cache, image: "cache:1"}]
      volumes: [{name: shared, persistentVolumeClaim: {claimName: shared}}]
`

func TestRolloutPostRenderer(t *testing.T) {
	surge, unavailable := intstr.FromString("50%"), intstr.FromInt32(0)
	var looked []string
	p := &RolloutPostRenderer{
		Rollout: kube.Rollout{Type: appsv1.RollingUpdateDeploymentStrategyType, MaxSurge: &surge, MaxUnavailable: &unavailable},
		Claims: func(name string) ([]corev1.PersistentVolumeAccessMode, bool, error) {
			looked = append(looked, name)
			return []corev1.PersistentVolumeAccessMode{corev1.ReadWriteMany}, true, nil
		},
	}
	out, err := p.Run(bytes.NewBufferString(rolloutManifest))
	if err != nil {
		t.Fatal(err)
	}
	strategies := map[string]appsv1.DeploymentStrategy{}
	for _, doc := range strings.Split(out.String(), "---\n") {
		var d appsv1.Deployment
		if err := yaml.Unmarshal([]byte(doc), &d); err != nil {
			t.Fatal(err)
		}
		if d.Kind == "Deployment" {
			strategies[d.Name] = d.Spec.Strategy
		}
	}
	web := strategies["web"]
	if web.Type != appsv1.RollingUpdateDeploymentStrategyType || web.RollingUpdate == nil ||
		web.RollingUpdate.MaxSurge.String() != "50%" || web.RollingUpdate.MaxUnavailable.String() != "0" {
		t.Errorf("web strategy = %+v", web)
	}
	if db := strategies["db"]; db.Type != appsv1.RecreateDeploymentStrategyType || db.RollingUpdate != nil {
		t.Errorf("db mounts a ReadWriteOnce claim of the chart, strategy = %+v", db)
	}
	if cache := strategies["cache"]; cache.Type != appsv1.RollingUpdateDeploymentStrategyType {
		t.Errorf("cache mounts a ReadWriteMany claim from the cluster, strategy = %+v", cache)
	}
	if len(looked) != 1 || looked[0] != "shared" {
		t.Errorf("looked up claims %v, want only shared (data is the chart's)", looked)
	}
	forced := p.Forced()
	if len(forced) != 1 || !strings.Contains(forced[0], "Deployment db uses Recreate instead of RollingUpdate") || !strings.Contains(forced[0], "PersistentVolumeClaim data") {
		t.Errorf("forced = %q", forced)
	}
}

func TestRolloutPostRendererLeavesManifestAloneWhenNothingChanges(t *testing.T) {
	in := "---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\nspec:\n  template:\n    spec:\n      containers: [{name: web, image: \"web:1\"}]\n"
	out, err := (&RolloutPostRenderer{}).Run(bytes.NewBufferString(in))
	if err != nil {
		t.Fatal(err)
	}
	if out.String() != in {
		t.Errorf("manifest changed:\n%s", out)
	}
}
