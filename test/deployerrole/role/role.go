// Package role applies the deployer ClusterRole of helm-service's chart:
// the rights tasks act with in a namespace (DEPLOYER_ROLE), for a
// helm-service that runs outside the chart (the demo, the end-to-end
// suite).
package role

import (
	"context"
	"fmt"
	"maps"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/releaseutil"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"sigs.k8s.io/yaml"
)

// Apply renders the chart in chartDir with the Helm SDK as release and
// creates or updates its ClusterRole <release>-deployer, with labels added,
// and returns the role's name. The rules are the chart's own, so that
// there is one definition of them.
func Apply(ctx context.Context, cs kubernetes.Interface, chartDir, release string, labels map[string]string) (string, error) {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return "", err
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = release, release
	rel, err := install.Run(ch, nil)
	if err != nil {
		return "", fmt.Errorf("render %s: %w", chartDir, err)
	}
	name := release + "-deployer"
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		var role rbacv1.ClusterRole
		if err := yaml.Unmarshal([]byte(doc), &role); err != nil || role.Kind != "ClusterRole" || role.Name != name {
			continue
		}
		if len(labels) > 0 {
			role.Labels = maps.Clone(labels)
		}
		current, err := cs.RbacV1().ClusterRoles().Get(ctx, name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			_, err = cs.RbacV1().ClusterRoles().Create(ctx, &role, metav1.CreateOptions{})
		case err == nil:
			current.Rules = role.Rules
			_, err = cs.RbacV1().ClusterRoles().Update(ctx, current, metav1.UpdateOptions{})
		}
		if err != nil {
			return "", fmt.Errorf("apply ClusterRole %s: %w", name, err)
		}
		return name, nil
	}
	return "", fmt.Errorf("%s renders no ClusterRole %s", chartDir, name)
}
