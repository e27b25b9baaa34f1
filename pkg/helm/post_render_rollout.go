package helm

import (
	"bytes"
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"helm.sh/helm/v3/pkg/postrender"
	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"

	"github.com/helm-service/helm-service/pkg/kube"
)

// ClaimAccessModes returns the access modes of a PersistentVolumeClaim in
// the release's namespace, or found=false when there is none.
type ClaimAccessModes func(name string) (modes []corev1.PersistentVolumeAccessMode, found bool, err error)

// RolloutPostRenderer sets the update strategy of the chart's Deployments.
// A Deployment that mounts a ReadWriteOnce PersistentVolumeClaim (one the
// chart renders, or else one in the cluster) gets Recreate whatever was
// asked: during a rolling update the new pod could not mount the volume
// the old pod holds on another node, and the rollout would hang. Objects
// are decoded into their Kubernetes types and encoded back.
type RolloutPostRenderer struct {
	Rollout kube.Rollout
	// Claims looks up claims the chart does not render; nil looks in the
	// chart only.
	Claims ClaimAccessModes

	mu     sync.Mutex
	forced []string
}

var _ postrender.PostRenderer = (*RolloutPostRenderer)(nil)

// Forced names the Deployments that were given Recreate because of a
// ReadWriteOnce claim, with the claim, in the words of a message.
func (p *RolloutPostRenderer) Forced() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.forced)
}

// Run implements postrender.PostRenderer.
func (p *RolloutPostRenderer) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	return editedObjects{p}.Run(rendered)
}

func (p *RolloutPostRenderer) editObjects(objs []map[string]any) (bool, error) {
	chartClaims := map[string][]corev1.PersistentVolumeAccessMode{}
	for _, obj := range objs {
		if obj["kind"] != "PersistentVolumeClaim" {
			continue
		}
		var pvc corev1.PersistentVolumeClaim
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &pvc); err != nil {
			return false, fmt.Errorf("post-render: read PersistentVolumeClaim: %w", err)
		}
		chartClaims[pvc.Name] = pvc.Spec.AccessModes
	}
	var forced []string
	changed := false
	for _, obj := range objs {
		if obj["kind"] != "Deployment" {
			continue
		}
		var d appsv1.Deployment
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, &d); err != nil {
			return false, fmt.Errorf("post-render: read Deployment: %w", err)
		}
		strategy := d.Spec.Strategy
		p.Rollout.Apply(&strategy)
		claim, err := p.readWriteOnceClaim(d.Spec.Template.Spec.Volumes, chartClaims)
		if err != nil {
			return false, fmt.Errorf("post-render: Deployment %s: %w", d.Name, err)
		}
		if claim != "" {
			if strategy.Type != appsv1.RecreateDeploymentStrategyType {
				forced = append(forced, fmt.Sprintf("Deployment %s uses Recreate instead of %s: it mounts the ReadWriteOnce PersistentVolumeClaim %s", d.Name, strategyName(strategy.Type), claim))
			}
			strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		}
		if equality.Semantic.DeepEqual(strategy, d.Spec.Strategy) {
			continue
		}
		encoded, err := runtime.DefaultUnstructuredConverter.ToUnstructured(&strategy)
		if err != nil {
			return false, fmt.Errorf("post-render: write strategy of Deployment %s: %w", d.Name, err)
		}
		spec, ok := obj["spec"].(map[string]any)
		if !ok {
			spec = map[string]any{}
			obj["spec"] = spec
		}
		spec["strategy"] = encoded
		changed = true
	}
	p.mu.Lock()
	p.forced = forced
	p.mu.Unlock()
	return changed, nil
}

// readWriteOnceClaim names the first claim among volumes whose access
// modes are only ReadWriteOnce or ReadWriteOncePod, or "".
func (p *RolloutPostRenderer) readWriteOnceClaim(volumes []corev1.Volume, chartClaims map[string][]corev1.PersistentVolumeAccessMode) (string, error) {
	for _, v := range volumes {
		if v.PersistentVolumeClaim == nil {
			continue
		}
		name := v.PersistentVolumeClaim.ClaimName
		modes, ok := chartClaims[name]
		if !ok && p.Claims != nil {
			var err error
			if modes, ok, err = p.Claims(name); err != nil {
				return "", fmt.Errorf("read PersistentVolumeClaim %s: %w", name, err)
			}
		}
		if ok && onlyOneNode(modes) {
			return name, nil
		}
	}
	return "", nil
}

// onlyOneNode reports whether a claim with these modes can be mounted on
// one node at a time.
func onlyOneNode(modes []corev1.PersistentVolumeAccessMode) bool {
	if len(modes) == 0 {
		return false
	}
	for _, m := range modes {
		if m != corev1.ReadWriteOnce && m != corev1.ReadWriteOncePod {
			return false
		}
	}
	return true
}

func strategyName(t appsv1.DeploymentStrategyType) string {
	if t == "" {
		return string(appsv1.RollingUpdateDeploymentStrategyType)
	}
	return string(t)
}

// claimLookupTimeout bounds one read of a PersistentVolumeClaim during a
// post-render, which Helm runs without a context.
const claimLookupTimeout = 10 * time.Second

// rolloutPostRenderer returns the rollout post-renderer of a request,
// looking up claims in the request's namespace.
func (c *Client) rolloutPostRenderer(ctx context.Context, req Request) *RolloutPostRenderer {
	p := &RolloutPostRenderer{Rollout: req.Rollout}
	if c.clientset == nil {
		return p
	}
	p.Claims = func(name string) ([]corev1.PersistentVolumeAccessMode, bool, error) {
		ctx, cancel := context.WithTimeout(ctx, claimLookupTimeout)
		defer cancel()
		pvc, err := c.clientset.CoreV1().PersistentVolumeClaims(req.Namespace).Get(ctx, name, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return nil, false, nil
		}
		if err != nil {
			return nil, false, err
		}
		modes := pvc.Spec.AccessModes
		if len(pvc.Status.AccessModes) > 0 {
			modes = pvc.Status.AccessModes
		}
		return modes, true, nil
	}
	return p
}
