package e2e

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestClusterUpRecreatesAfterComponentDies: when a component of the local
// cluster exits while `cluster.sh up` waits for the cluster to be ready, up
// prints that component's log, keeps the failed attempt's logs in the cache
// and creates the cluster again, instead of failing with nothing to show.
// The kube-controller-manager is killed in the first attempt
// (CLUSTER_TEST_KILL): the default ServiceAccount, which up waits for, is
// its work.
func TestClusterUpRecreatesAfterComponentDies(t *testing.T) {
	script, err := filepath.Abs("../cluster/cluster.sh")
	if err != nil {
		t.Fatal(err)
	}
	cache := t.TempDir()
	name := "heal-" + suite.runID
	env := append(os.Environ(),
		"CLUSTER_NAME="+name,
		"CLUSTER_NODES=1",
		"CLUSTER_TEST_KILL=kube-controller-manager",
		// Only the cluster's state and kept logs go to this test's cache; the
		// binaries are the suite's.
		"CLUSTER_KUBECONFIG="+filepath.Join(cache, name+".kubeconfig"),
	)
	t.Cleanup(func() {
		down := exec.Command(script, "down")
		down.Env = env
		if out, err := down.CombinedOutput(); err != nil {
			t.Logf("cluster.sh down: %v\n%s", err, out)
		}
	})
	var stdout, stderr bytes.Buffer
	up := exec.Command(script, "up")
	up.Env = env
	up.Stdout, up.Stderr = &stdout, &stderr
	if err := up.Run(); err != nil {
		t.Fatalf("cluster.sh up: %v\n%s", err, stderr.String())
	}
	log := stderr.String()
	for _, want := range []string{
		"kube-controller-manager exited while ",
		"kept the logs of the failed attempt in ",
		"recreating the cluster (attempt 2 of 3)",
		"cluster " + name + " ready",
	} {
		if !strings.Contains(log, want) {
			t.Errorf("up's output lacks %q:\n%s", want, log)
		}
	}
	if got := strings.TrimSpace(stdout.String()); got != filepath.Join(cache, name+".kubeconfig") {
		t.Errorf("up printed %q on stdout, want only the kubeconfig path", got)
	}
	_, kept, ok := strings.Cut(log, "kept the logs of the failed attempt in ")
	if !ok {
		return
	}
	dir, _, _ := strings.Cut(kept, "\n")
	t.Cleanup(func() { os.RemoveAll(dir) })
	if _, err := os.Stat(filepath.Join(dir, "logs", "kube-controller-manager.log")); err != nil {
		t.Errorf("the failed attempt's controller manager log was not kept: %v", err)
	}
	status := exec.Command(script, "status")
	status.Env = env
	if out, err := status.CombinedOutput(); err != nil {
		t.Errorf("the recreated cluster does not answer: %v\n%s", err, out)
	}
}
