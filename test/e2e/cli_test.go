package e2e

import (
	"bytes"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/helm-service/helm-service/eventbus"
)

// cli runs `helm-service ARGS…` and returns its output and exit code.
func cli(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	cmd := exec.CommandContext(ctx(t), suite.binary, args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
	case errors.As(err, &exit):
		code = exit.ExitCode()
	default:
		t.Fatalf("run %v: %v", args, err)
	}
	return out.String(), errOut.String(), code
}

func TestCLITriggerAndWatch(t *testing.T) {
	watchCmd := exec.Command(suite.binary, "watch", "--nats", suite.natsURL)
	var watched bytes.Buffer
	watchCmd.Stdout = &watched
	if err := watchCmd.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(500 * time.Millisecond) // let it subscribe

	project := suite.project("cli")
	out, errOut, code := cli(t, "trigger", "deployment", "--nats", suite.natsURL,
		"--project", project, "--stage", "dev", "--service", "carts", "--image", "example/carts:cli")
	if code != 0 {
		t.Fatalf("trigger deployment exited %d\nstdout:\n%s\nstderr:\n%s", code, out, errOut)
	}
	for _, want := range []string{"sent sh.keptn.event.deployment.triggered", "sh.keptn.event.deployment.started", "sh.keptn.event.deployment.finished succeeded/pass", `"helmRevision":1`} {
		if !strings.Contains(out, want) {
			t.Errorf("trigger output lacks %q:\n%s", want, out)
		}
	}
	if img := getDeployment(t, project+"-dev", "carts").Spec.Template.Spec.Containers[0].Image; img != "example/carts:cli" {
		t.Errorf("image = %s", img)
	}

	_, errOut, code = cli(t, "trigger", "deployment", "--nats", suite.natsURL, "--project", project, "--stage", "dev", "--service", "nochart")
	if code != 1 || !strings.Contains(errOut, `chart not found for service "nochart"`) {
		t.Errorf("failed deployment: exit %d, stderr %q; want 1 and the reason", code, errOut)
	}

	_, errOut, code = cli(t, "trigger", "deployment", "--project")
	if code != 2 {
		t.Errorf("bad command line: exit %d (%s), want 2", code, errOut)
	}

	_ = watchCmd.Process.Signal(os.Interrupt)
	if err := watchCmd.Wait(); err != nil {
		t.Errorf("watch exited with %v", err)
	}
	lines := strings.Split(strings.TrimSpace(watched.String()), "\n")
	var triggered, started, finished int
	for _, l := range lines {
		if !strings.Contains(l, project+"/dev/carts") {
			continue
		}
		switch {
		case strings.Contains(l, ".deployment.triggered "):
			triggered++
		case strings.Contains(l, ".deployment.started "):
			started++
		case strings.Contains(l, ".deployment.finished "):
			finished++
		}
	}
	if triggered != 1 || started != 1 || finished != 1 {
		t.Errorf("watch saw %d triggered, %d started, %d finished for %s/dev/carts; want one each:\n%s", triggered, started, finished, project, watched.String())
	}
}

func TestCLITriggerTimesOut(t *testing.T) {
	// A bus with no helm-service on it: nothing answers.
	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: "127.0.0.1:0", DataDir: filepath.Join(t.TempDir(), "nats")})
	if err != nil {
		t.Fatal(err)
	}
	defer ns.Shutdown()
	_, errOut, code := cli(t, "trigger", "deployment", "--nats", ns.ClientURL(), "--timeout", "1s", "--project", "p", "--stage", "s", "--service", "c")
	if code != 3 || !strings.Contains(errOut, "no sh.keptn.event.deployment.finished") {
		t.Errorf("exit %d, stderr %q; want 3 and a timeout message", code, errOut)
	}
}
