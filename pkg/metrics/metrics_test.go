package metrics

import (
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
	dto "github.com/prometheus/client_model/go"
)

func TestRecordsWhatItIsTold(t *testing.T) {
	m := New()
	m.EventReceived("sh.keptn.event.deployment.triggered", false)
	m.EventReceived("sh.keptn.event.deployment.triggered", true)
	m.EventReceived("sh.keptn.event.release.triggered", false)
	m.NATSConnected(true)
	m.TaskQueued()
	m.TaskQueued()
	m.TaskLeft()
	m.TaskRan("deployment", 3*time.Second)
	m.TaskDone("deployment", "pass")
	m.TaskDone("deployment", ResultSuperseded)
	m.HelmAction(ActionInstall, 2*time.Second)
	m.HelmAction(ActionWait, time.Second)
	m.HelmAction(ActionWait, time.Second)
	m.ReleaseRecovered()

	for _, c := range []struct {
		name      string
		got, want float64
	}{
		{"received deployment", testutil.ToFloat64(m.eventsReceived.WithLabelValues("sh.keptn.event.deployment.triggered")), 2},
		{"received release", testutil.ToFloat64(m.eventsReceived.WithLabelValues("sh.keptn.event.release.triggered")), 1},
		{"redelivered deployment", testutil.ToFloat64(m.eventsRedelivered.WithLabelValues("sh.keptn.event.deployment.triggered")), 1},
		{"nats connected", testutil.ToFloat64(m.natsConnected), 1},
		{"queue depth", testutil.ToFloat64(m.queueDepth), 1},
		{"deployment pass", testutil.ToFloat64(m.tasks.WithLabelValues("deployment", "pass")), 1},
		{"deployment superseded", testutil.ToFloat64(m.tasks.WithLabelValues("deployment", "superseded")), 1},
		{"recovered", testutil.ToFloat64(m.recovered), 1},
	} {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	m.NATSConnected(false)
	if got := testutil.ToFloat64(m.natsConnected); got != 0 {
		t.Errorf("nats connected after disconnect = %v, want 0", got)
	}

	want := `
# HELP helm_service_helm_action_duration_seconds Duration of Helm actions, by action (install, upgrade, rollback, uninstall, wait).
# TYPE helm_service_helm_action_duration_seconds histogram
` + histogram("helm_service_helm_action_duration_seconds", `action="install"`, 2, 1) +
		histogram("helm_service_helm_action_duration_seconds", `action="wait"`, 1, 2)
	if err := testutil.GatherAndCompare(m.Registry(), strings.NewReader(want), "helm_service_helm_action_duration_seconds"); err != nil {
		t.Error(err)
	}
}

// histogram renders the exposition of a histogram of n observations of
// value seconds each, over durationBuckets.
func histogram(name, labels string, value float64, n int) string {
	var b strings.Builder
	for _, le := range durationBuckets {
		count := 0
		if value <= le {
			count = n
		}
		b.WriteString(name + "_bucket{" + labels + `,le="` + formatFloat(le) + `"} ` + formatFloat(float64(count)) + "\n")
	}
	b.WriteString(name + "_bucket{" + labels + `,le="+Inf"} ` + formatFloat(float64(n)) + "\n")
	b.WriteString(name + "_sum{" + labels + "} " + formatFloat(value*float64(n)) + "\n")
	b.WriteString(name + "_count{" + labels + "} " + formatFloat(float64(n)) + "\n")
	return b.String()
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

func TestNilMetricsRecordNothing(t *testing.T) {
	var m *Metrics
	m.EventReceived("x", true)
	m.NATSConnected(true)
	m.TaskQueued()
	m.TaskLeft()
	m.TaskRan("deployment", time.Second)
	m.TaskDone("deployment", "pass")
	m.HelmAction(ActionUpgrade, time.Second)
	m.ReleaseRecovered()
}

func TestNamesFollowPrometheusConventions(t *testing.T) {
	m := New()
	m.EventReceived("sh.keptn.event.deployment.triggered", true)
	m.TaskRan("deployment", time.Second)
	m.TaskDone("deployment", "pass")
	m.HelmAction(ActionUpgrade, time.Second)
	problems, err := testutil.GatherAndLint(m.Registry())
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range problems {
		if strings.HasPrefix(p.Metric, "helm_service_") {
			t.Errorf("%s: %s", p.Metric, p.Text)
		}
	}
}

func TestHandlerServesTheRegistryWithGoAndProcessMetrics(t *testing.T) {
	m := New()
	m.TaskDone("deployment", "pass")
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`helm_service_tasks_total{result="pass",task="deployment"} 1`,
		"helm_service_queue_depth 0",
		"helm_service_nats_connected 0",
		"go_goroutines ",
		"process_resident_memory_bytes ",
	} {
		if !strings.Contains(string(body), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

func TestTaskPhase(t *testing.T) {
	m := New()
	m.TaskPhase("deployment", "wait", 2*time.Second)
	m.TaskPhase("deployment", "wait", 500*time.Millisecond)
	m.TaskPhase("action", "apply", 30*time.Millisecond)
	for _, c := range []struct {
		task, phase string
		count       uint64
		sum         float64
	}{
		{"deployment", "wait", 2, 2.5},
		{"action", "apply", 1, 0.03},
		{"deployment", "render", 0, 0},
	} {
		h := &dto.Metric{}
		if err := m.phaseDuration.WithLabelValues(c.task, c.phase).(prometheus.Histogram).Write(h); err != nil {
			t.Fatal(err)
		}
		if got := h.GetHistogram().GetSampleCount(); got != c.count {
			t.Errorf("%s/%s: %d observations, want %d", c.task, c.phase, got, c.count)
		}
		if got := h.GetHistogram().GetSampleSum(); math.Abs(got-c.sum) > 1e-9 {
			t.Errorf("%s/%s: sum %v, want %v", c.task, c.phase, got, c.sum)
		}
	}
}
