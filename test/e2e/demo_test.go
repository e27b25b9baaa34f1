package e2e

import (
	"bytes"
	"errors"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// demoRun is what a run of test/demo.sh left behind.
type demoRun struct {
	code   int
	stdout string
	stderr string
}

// runDemo runs test/demo.sh against the suite's cluster with the given
// settings on top of the test's environment (without NATS_URL, KUBECONFIG
// and the DEMO_* of the caller).
func runDemo(t *testing.T, vars map[string]string) demoRun {
	t.Helper()
	cmd := exec.CommandContext(ctx(t), "bash", "../demo.sh")
	for _, kv := range os.Environ() {
		name, _, _ := strings.Cut(kv, "=")
		if name == "NATS_URL" || name == "KUBECONFIG" || strings.HasPrefix(name, "DEMO_") || name == "HELM_SERVICE_BIN" {
			continue
		}
		cmd.Env = append(cmd.Env, kv)
	}
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	run := demoRun{}
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		run.code = exit.ExitCode()
	default:
		t.Fatalf("run test/demo.sh: %v", err)
	}
	run.stdout, run.stderr = out.String(), errOut.String()
	return run
}

// demoVars are the settings of one demo run on free ports in its own
// directory, for project.
func demoVars(t *testing.T, project, dir string) map[string]string {
	return map[string]string{
		"KUBECONFIG":     suite.kubeconfig,
		"DEMO_PROJECT":   project,
		"DEMO_DIR":       dir,
		"DEMO_NATS_PORT": strconv.Itoa(freePort(t)),
		"DEMO_HTTP_PORT": strconv.Itoa(freePort(t)),
	}
}

// demoState is what the demo deployed, as the cluster and the Helm records
// say.
type demoState struct {
	DirectImage, PrimaryImage       string
	DirectRevision, PrimaryRevision string
	CanaryReplicas                  int32
}

func readDemoState(t *testing.T, project string) demoState {
	t.Helper()
	canary := getDeployment(t, project+"-prod", "carts-canary")
	return demoState{
		DirectImage:     getDeployment(t, project+"-staging", "carts").Spec.Template.Spec.Containers[0].Image,
		PrimaryImage:    getDeployment(t, project+"-prod", "carts-primary").Spec.Template.Spec.Containers[0].Image,
		DirectRevision:  helmRelease(t, project+"-staging", "carts").revision,
		PrimaryRevision: helmRelease(t, project+"-prod", "carts-primary").revision,
		CanaryReplicas:  *canary.Spec.Replicas,
	}
}

// TestDemo runs test/demo.sh twice against the local cluster: the first run
// deploys the sample service direct and blue/green and promotes it, the
// second upgrades what the first deployed; each stops its service.
func TestDemo(t *testing.T) {
	project := suite.project("demo")
	t.Cleanup(func() {
		for _, ns := range []string{project + "-staging", project + "-prod"} {
			_ = suite.clientset.CoreV1().Namespaces().Delete(ctx(t), ns, metav1.DeleteOptions{})
		}
	})
	dir := t.TempDir()
	image := "docker.io/keptnexamples/carts:0.13.2"
	for i, want := range []demoState{
		// Direct at revision 1; the primary installed, then promoted from the canary.
		{DirectImage: image, PrimaryImage: image, DirectRevision: "1", PrimaryRevision: "2", CanaryReplicas: 0},
		// Run again: every release one revision on.
		{DirectImage: image, PrimaryImage: image, DirectRevision: "2", PrimaryRevision: "3", CanaryReplicas: 0},
	} {
		vars := demoVars(t, project, dir)
		run := runDemo(t, vars)
		if run.code != 0 {
			t.Fatalf("run %d: test/demo.sh exited %d\nstdout:\n%s\nstderr:\n%s", i+1, run.code, run.stdout, run.stderr)
		}
		if diff := cmp.Diff(want, readDemoState(t, project)); diff != "" {
			t.Errorf("run %d: the cluster after the demo (-want +got):\n%s", i+1, diff)
		}
		for _, line := range []string{
			"sh.keptn.event.deployment.finished succeeded/pass: release " + project + "-staging/carts is at revision " + want.DirectRevision,
			"sh.keptn.event.release.finished succeeded/pass: promoted: primary " + project + "-prod/carts-primary is at revision " + want.PrimaryRevision,
			project + "-prod     carts    blue_green_service  carts-primary  " + want.PrimaryRevision,
			"The demo is done.",
		} {
			if !strings.Contains(run.stdout, line) {
				t.Errorf("run %d: the demo's output lacks %q:\n%s", i+1, line, run.stdout)
			}
		}
		// The service is stopped: nothing listens on its ports and its pid file is gone.
		for _, port := range []string{vars["DEMO_NATS_PORT"], vars["DEMO_HTTP_PORT"]} {
			if c, err := net.Dial("tcp", "127.0.0.1:"+port); err == nil {
				c.Close()
				t.Errorf("run %d: something still listens on port %s after the demo", i+1, port)
			}
		}
		if _, err := os.Stat(filepath.Join(dir, "helm-service.pid")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("run %d: pid file after the demo: %v, want none", i+1, err)
		}
	}
}

// TestDemoFailsLoudly checks that a demo that cannot go on exits 1 and says
// which step failed and what to do.
func TestDemoFailsLoudly(t *testing.T) {
	busy, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer busy.Close()
	busyPort := strconv.Itoa(busy.Addr().(*net.TCPAddr).Port)

	for _, tc := range []struct {
		name string
		vars map[string]string
		want []string
	}{{
		name: "NATS port in use",
		vars: map[string]string{"DEMO_NATS_PORT": busyPort},
		want: []string{"demo: FAILED: port " + busyPort + " on 127.0.0.1 is already in use", "DEMO_NATS_PORT"},
	}, {
		name: "a project that is no Kubernetes name",
		vars: map[string]string{"DEMO_PROJECT": "Not_A_Name"},
		want: []string{"demo: FAILED: deploy carts direct to Not_A_Name-staging", "the last lines of the service log"},
	}} {
		t.Run(tc.name, func(t *testing.T) {
			vars := demoVars(t, "unused", t.TempDir())
			vars["HELM_SERVICE_BIN"] = suite.binary
			for k, v := range tc.vars {
				vars[k] = v
			}
			run := runDemo(t, vars)
			if run.code != 1 {
				t.Errorf("exit %d, want 1\nstdout:\n%s\nstderr:\n%s", run.code, run.stdout, run.stderr)
			}
			for _, want := range tc.want {
				if !strings.Contains(run.stderr, want) {
					t.Errorf("stderr lacks %q:\n%s", want, run.stderr)
				}
			}
			if _, err := os.Stat(filepath.Join(vars["DEMO_DIR"], "helm-service.pid")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("pid file after the failed demo: %v, want none (the service stopped)", err)
			}
		})
	}
}
