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

	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/helm-service/helm-service/test/deployerrole/role"
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
	name, err := role.Apply(ctx, cs, chartDir, release, nil)
	if err != nil {
		return err
	}
	fmt.Printf("ClusterRole %s applied (%s)\n", name, cfg.Host)
	return nil
}
