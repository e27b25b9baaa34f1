package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"

	"k8s.io/client-go/tools/clientcmd"
)

// clusterScript drives the local cluster the suite runs against.
const clusterScript = "../cluster/cluster.sh"

// localClusterName is the name test/cluster/cluster.sh knows the suite's
// cluster by (its kubeconfig context is kwok-<name>), or "" when the suite
// runs against another cluster.
func localClusterName(t *testing.T) string {
	t.Helper()
	cfg, err := clientcmd.LoadFromFile(suite.kubeconfig)
	if err != nil {
		t.Fatal(err)
	}
	name, ok := strings.CutPrefix(cfg.CurrentContext, "kwok-")
	if !ok {
		return ""
	}
	return name
}

// apiServer runs cluster.sh apiserver-stop or apiserver-start.
func apiServer(t *testing.T, cluster, verb string) {
	t.Helper()
	cmd := exec.Command(clusterScript, "apiserver-"+verb)
	cmd.Env = append(cmd.Environ(), "CLUSTER_NAME="+cluster)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s apiserver-%s: %v\n%s", clusterScript, verb, err, out)
	}
	t.Logf("apiserver-%s: %s", verb, strings.TrimSpace(string(out)))
}

// TestFaultAPIServerStopped: the Kubernetes API server stops for ~18 s
// while deployments run and more arrive, then starts again; helm-service
// is not restarted. Tasks that meet the outage run again until the API
// server is back (CLUSTER_RETRY_TIMEOUT), releases it cut off mid-upgrade
// are recovered, and every trigger gets one .finished.
func TestFaultAPIServerStopped(t *testing.T) {
	cluster := localClusterName(t)
	if cluster == "" {
		t.Skip("the API server outage case stops the API server of the local cluster (test/cluster/cluster.sh); E2E_KUBECONFIG names another cluster")
	}
	r := newRig(t, "ft-apisrv", map[string]string{"CLUSTER_RETRY_TIMEOUT": "3m"})
	r.startService()
	services := r.services(6)
	for _, svc := range services {
		r.send(svc)
	}
	r.waitStarted(3, 2*time.Minute)

	stopped := false
	t.Cleanup(func() {
		if stopped {
			apiServer(t, cluster, "start")
		}
	})
	apiServer(t, cluster, "stop")
	stopped = true
	down := time.Now()
	for _, svc := range services[:3] { // and more work during the outage
		r.send(svc)
	}
	time.Sleep(18 * time.Second)
	apiServer(t, cluster, "start")
	stopped = false
	back := time.Now()
	t.Logf("API server down for %s (until ready again) with %d of %d triggers answered", back.Sub(down).Round(100*time.Millisecond), r.count().finished, len(r.sent))

	r.settle(6*time.Minute, back)
	retried, recovered := 0, 0
	for _, s := range r.sent {
		d, _ := r.finishedData(s.id)
		if strings.Contains(d.Message, "unreachable") {
			t.Errorf("trigger %s was answered with the outage: %s", s.id, d.Message)
		}
		if strings.Contains(d.Message, "by an operation that did not end") {
			recovered++
		}
	}
	for _, p := range r.procs {
		retried += logCount(t, p.logPath, "task failed for a reason that passes; running it again")
	}
	t.Logf("runs repeated after meeting the outage: %d; releases the outage left pending and recovered: %d", retried, recovered)
	if retried == 0 {
		t.Error("no task met the outage: the case did not exercise it")
	}
}

// logCount counts the lines of a helm-service log that carry msg.
func logCount(t *testing.T, logPath, msg string) int {
	t.Helper()
	n := 0
	for _, sp := range readLog(t, logPath) {
		if sp.Msg == msg {
			n++
		}
	}
	return n
}
