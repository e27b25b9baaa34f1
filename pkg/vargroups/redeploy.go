package vargroups

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/helm-service/helm-service/pkg/kube"
)

// Redeployer rolls the Deployments that read a variable group when the
// group's Secret changes outside a deployment (edited by hand, say): it
// patches their pod template's AnnotationChecksum to the groups' new
// checksum, and Kubernetes rolls the pods.
type Redeployer struct {
	Store Store
	// Allow refuses, with an error, namespaces helm-service does not
	// manage; nil allows all.
	Allow func(namespace string) error
	Log   *slog.Logger
}

// Run watches the Secrets of variable groups in every namespace until ctx
// is cancelled. Snapshots are not watched: they never change.
func (r Redeployer) Run(ctx context.Context) error {
	selector := fmt.Sprintf("%s=%s,%s in (%s,%s)", kube.LabelManagedBy, kube.ManagedByValue, LabelGroup, GroupGlobal, GroupService)
	factory := informers.NewSharedInformerFactoryWithOptions(r.Store.Clientset, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) { o.LabelSelector = selector }))
	informer := factory.Core().V1().Secrets().Informer()
	queue := workqueue.NewTypedRateLimitingQueue(workqueue.DefaultTypedControllerRateLimiter[string]())
	defer queue.ShutDown()
	enqueue := func(obj any) {
		if s, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = s.Obj
		}
		if s, ok := obj.(*corev1.Secret); ok && (r.Allow == nil || r.Allow(s.Namespace) == nil) {
			queue.Add(s.Namespace)
		}
	}
	if _, err := informer.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("watch variable groups: %w", err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown()
	go func() {
		<-ctx.Done()
		queue.ShutDown()
	}()
	r.Log.Info("redeploying on variable group changes", "selector", selector)
	for {
		ns, quit := queue.Get()
		if quit {
			return nil
		}
		if err := r.Sync(ctx, ns); err != nil && ctx.Err() == nil {
			r.Log.Warn("rolling Deployments after a variable group change failed; retrying", "namespace", ns, "error", err)
			queue.AddRateLimited(ns)
		} else {
			queue.Forget(ns)
		}
		queue.Done(ns)
	}
}

// Sync brings the checksum annotation of every Deployment of namespace
// that reads a service group up to date with the groups' data. Deployments
// whose pods read a snapshot (AnnotationSnapshot) are left alone: the
// groups' changes reach them with their next deployment.
func (r Redeployer) Sync(ctx context.Context, namespace string) error {
	list, err := r.Store.Clientset.AppsV1().Deployments(namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return fmt.Errorf("list Deployments of %s: %w", namespace, err)
	}
	for i := range list.Items {
		d := &list.Items[i]
		if d.Spec.Template.Annotations[AnnotationSnapshot] != "" {
			continue
		}
		service, ok := serviceOf(d)
		if !ok {
			continue
		}
		groups, err := r.Store.Read(ctx, namespace, service)
		if err != nil {
			return err
		}
		sum := groups.Checksum()
		if d.Spec.Template.Annotations[AnnotationChecksum] == sum {
			continue
		}
		var value any = sum
		if sum == "" {
			value = nil // strategic merge: remove the annotation
		}
		patch, err := json.Marshal(map[string]any{"spec": map[string]any{"template": map[string]any{
			"metadata": map[string]any{"annotations": map[string]any{AnnotationChecksum: value}},
		}}})
		if err != nil {
			return err
		}
		if _, err := r.Store.Clientset.AppsV1().Deployments(namespace).Patch(ctx, d.Name, types.StrategicMergePatchType, patch, metav1.PatchOptions{}); err != nil {
			return fmt.Errorf("patch Deployment %s/%s: %w", namespace, d.Name, err)
		}
		r.Log.Info("variable groups changed: rolling Deployment", "namespace", namespace, "deployment", d.Name, "service", service)
	}
	return nil
}

// serviceOf finds the service whose group a Deployment reads, from the
// envFrom reference the post-renderer added.
func serviceOf(d *appsv1.Deployment) (string, bool) {
	prefix := GlobalSecret + "-"
	for _, c := range d.Spec.Template.Spec.Containers {
		for _, s := range c.EnvFrom {
			if s.SecretRef != nil && strings.HasPrefix(s.SecretRef.Name, prefix) {
				return strings.TrimPrefix(s.SecretRef.Name, prefix), true
			}
		}
	}
	return "", false
}
