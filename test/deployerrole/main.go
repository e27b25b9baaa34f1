// Command deployerrole applies the deployer ClusterRole of chart/ (the
// rights tasks act with in a namespace, DEPLOYER_ROLE) to the cluster
// KUBECONFIG names, rendered with the Helm SDK as release helm-service so
// that its name is DEPLOYER_ROLE's default. test/demo.sh runs it so that a
// local helm-service, outside the chart, finds the role it checks at start.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/chart/loader"
	"helm.sh/helm/v3/pkg/releaseutil"
	rbacv1 "k8s.io/api/rbac/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	"sigs.k8s.io/yaml"
)

func main() {
	chartDir := flag.String("chart", "chart", "the helm-service chart")
	release := flag.String("release", "helm-service", "release name; the role is <release>-deployer")
	flag.Parse()
	if err := run(*chartDir, *release); err != nil {
		fmt.Fprintln(os.Stderr, "deployerrole:", err)
		os.Exit(1)
	}
}

func run(chartDir, release string) error {
	ch, err := loader.Load(chartDir)
	if err != nil {
		return err
	}
	install := action.NewInstall(&action.Configuration{})
	install.DryRun, install.ClientOnly, install.Replace = true, true, true
	install.ReleaseName, install.Namespace = release, release
	rel, err := install.Run(ch, nil)
	if err != nil {
		return fmt.Errorf("render %s: %w", chartDir, err)
	}
	name := release + "-deployer"
	rules := clientcmd.NewDefaultClientConfigLoadingRules()
	cfg, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{}).ClientConfig()
	if err != nil {
		return fmt.Errorf("load kubeconfig: %w", err)
	}
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	for _, doc := range releaseutil.SplitManifests(rel.Manifest) {
		var role rbacv1.ClusterRole
		if err := yaml.Unmarshal([]byte(doc), &role); err != nil || role.Kind != "ClusterRole" || role.Name != name {
			continue
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
			return fmt.Errorf("apply ClusterRole %s: %w", name, err)
		}
		fmt.Printf("ClusterRole %s applied (%s)\n", name, cfg.Host)
		return nil
	}
	return fmt.Errorf("%s renders no ClusterRole %s", chartDir, name)
}
