// Package metrics owns helm-service's Prometheus collectors, on a registry
// of its own. A *Metrics is handed to the event bus, the dispatcher and the
// Helm client, which report through its methods; Handler serves them.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

const namespace = "helm_service"

// Results of a task besides the pass, warning and fail a task answers with.
const (
	// ResultErrored is a task answered with status errored.
	ResultErrored = "errored"
	// ResultSuperseded is a deployment a newer one for its release replaced.
	ResultSuperseded = "superseded"
	// ResultHandedBack is a task handed back to the bus unanswered, because
	// helm-service was stopping.
	ResultHandedBack = "handed_back"
)

// Helm actions timed by HelmAction.
const (
	ActionInstall   = "install"
	ActionUpgrade   = "upgrade"
	ActionRollback  = "rollback"
	ActionUninstall = "uninstall"
	ActionWait      = "wait"
)

// Metrics are the collectors of one helm-service process. The zero value
// is not usable; a nil *Metrics is, and records nothing.
type Metrics struct {
	registry *prometheus.Registry

	eventsReceived    *prometheus.CounterVec
	eventsRedelivered *prometheus.CounterVec
	natsConnected     prometheus.Gauge
	tasks             *prometheus.CounterVec
	taskDuration      *prometheus.HistogramVec
	queueDepth        prometheus.Gauge
	helmAction        *prometheus.HistogramVec
	phaseDuration     *prometheus.HistogramVec
	recovered         prometheus.Counter
}

// durationBuckets span a Helm action or task: from a quick refusal to a
// wait of several minutes.
var durationBuckets = []float64{0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// phaseBuckets span one phase of a task: from a publish of a few
// milliseconds to a wait of several minutes.
var phaseBuckets = []float64{0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600}

// New returns the collectors registered on a new registry, with the Go
// runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		registry: prometheus.NewRegistry(),
		eventsReceived: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_received_total",
			Help: "Events received from NATS, by event type (the subject).",
		}, []string{"type"}),
		eventsRedelivered: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "events_redelivered_total",
			Help: "Events JetStream delivered more than once, by event type.",
		}, []string{"type"}),
		natsConnected: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "nats_connected",
			Help: "1 while connected to NATS, 0 otherwise.",
		}),
		tasks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Namespace: namespace, Name: "tasks_total",
			Help: "Tasks answered or handed back, by task and result (pass, warning, fail, errored, superseded, handed_back).",
		}, []string{"task", "result"}),
		taskDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "task_duration_seconds",
			Help:    "Time a task ran, from leaving its release's queue to its answer, by task.",
			Buckets: durationBuckets,
		}, []string{"task"}),
		queueDepth: prometheus.NewGauge(prometheus.GaugeOpts{
			Namespace: namespace, Name: "queue_depth",
			Help: "Tasks waiting in a release queue or running.",
		}),
		helmAction: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "helm_action_duration_seconds",
			Help:    "Duration of Helm actions, by action (install, upgrade, rollback, uninstall, wait).",
			Buckets: durationBuckets,
		}, []string{"action"}),
		phaseDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Namespace: namespace, Name: "phase_duration_seconds",
			Help:    "Time a task spent in each phase, as the timings of its .finished say, by task and phase (queued, chartFetch, render, apply, wait, route, publish).",
			Buckets: phaseBuckets,
		}, []string{"task", "phase"}),
		recovered: prometheus.NewCounter(prometheus.CounterOpts{
			Namespace: namespace, Name: "releases_recovered_total",
			Help: "Releases found pending after an interrupted operation and recovered.",
		}),
	}
	m.registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.eventsReceived, m.eventsRedelivered, m.natsConnected,
		m.tasks, m.taskDuration, m.queueDepth,
		m.helmAction, m.phaseDuration, m.recovered,
	)
	return m
}

// Registry is the registry the collectors are on.
func (m *Metrics) Registry() *prometheus.Registry { return m.registry }

// Handler serves the metrics in the Prometheus exposition format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.registry, promhttp.HandlerOpts{Registry: m.registry})
}

// EventReceived counts an event of the given type; redelivered says the
// server delivered it before.
func (m *Metrics) EventReceived(eventType string, redelivered bool) {
	if m == nil {
		return
	}
	m.eventsReceived.WithLabelValues(eventType).Inc()
	if redelivered {
		m.eventsRedelivered.WithLabelValues(eventType).Inc()
	}
}

// NATSConnected records whether the NATS connection is up.
func (m *Metrics) NATSConnected(up bool) {
	if m == nil {
		return
	}
	if up {
		m.natsConnected.Set(1)
		return
	}
	m.natsConnected.Set(0)
}

// TaskQueued counts a task entering its release's queue; TaskLeft counts
// it leaving the queue or the pool, whether it ran or not.
func (m *Metrics) TaskQueued() {
	if m != nil {
		m.queueDepth.Inc()
	}
}

// TaskLeft is the counterpart of TaskQueued.
func (m *Metrics) TaskLeft() {
	if m != nil {
		m.queueDepth.Dec()
	}
}

// TaskRan records how long a task ran.
func (m *Metrics) TaskRan(task string, d time.Duration) {
	if m != nil {
		m.taskDuration.WithLabelValues(task).Observe(d.Seconds())
	}
}

// TaskDone counts a task's outcome.
func (m *Metrics) TaskDone(task, result string) {
	if m != nil {
		m.tasks.WithLabelValues(task, result).Inc()
	}
}

// HelmAction records how long a Helm action took, failed or not.
func (m *Metrics) HelmAction(action string, d time.Duration) {
	if m != nil {
		m.helmAction.WithLabelValues(action).Observe(d.Seconds())
	}
}

// TaskPhase records the time a task spent in one phase.
func (m *Metrics) TaskPhase(task, phase string, d time.Duration) {
	if m != nil {
		m.phaseDuration.WithLabelValues(task, phase).Observe(d.Seconds())
	}
}

// ReleaseRecovered counts a release recovered from a pending state.
func (m *Metrics) ReleaseRecovered() {
	if m != nil {
		m.recovered.Inc()
	}
}
