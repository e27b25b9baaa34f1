// Package timings records where a task's time goes, phase by phase. A
// task's Recorder travels in its context (like pkg/tasklog's logger), so
// that the code of each phase, deep in a task, adds its time to it.
package timings

import (
	"context"
	"sync"
	"time"
)

// Phase is a part of a task's time.
type Phase string

// The phases of a task, in the order they usually come.
const (
	// Queued is the wait for the task's turn on its releases (lanes,
	// leases and the worker pool).
	Queued Phase = "queued"
	// ChartFetch is loading the chart from its source.
	ChartFetch Phase = "chartFetch"
	// Render is rendering the chart and post-rendering its manifests.
	Render Phase = "render"
	// Apply is Helm writing the release to the cluster (install, upgrade,
	// rollback, uninstall) and helm-service changing workloads (scaling,
	// restarting), without the waits.
	Apply Phase = "apply"
	// Wait is waiting for the release's workloads to be ready.
	Wait Phase = "wait"
	// Route is changing where a blue/green service's traffic goes.
	Route Phase = "route"
	// Publish is publishing the task's .started.
	Publish Phase = "publish"
)

// Phases returns every phase, in order.
func Phases() []Phase {
	return []Phase{Queued, ChartFetch, Render, Apply, Wait, Route, Publish}
}

// Recorder adds up the time of each phase of one task. The zero value is
// ready; a nil *Recorder records nothing. It is safe for concurrent use.
type Recorder struct {
	mu    sync.Mutex
	spent map[Phase]time.Duration
}

// New returns an empty recorder.
func New() *Recorder { return &Recorder{} }

// Add adds d to phase p; a negative d (a clock step) counts as zero, and
// still marks the phase as one the task had.
func (r *Recorder) Add(p Phase, d time.Duration) {
	if r == nil {
		return
	}
	d = max(d, 0)
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.spent == nil {
		r.spent = map[Phase]time.Duration{}
	}
	r.spent[p] += d
}

// Start starts timing phase p; call the result when the phase ends.
func (r *Recorder) Start(p Phase) func() {
	if r == nil {
		return func() {}
	}
	start := time.Now()
	return func() { r.Add(p, time.Since(start)) }
}

// Spent returns the time recorded for p, and whether the task had p.
func (r *Recorder) Spent(p Phase) (time.Duration, bool) {
	if r == nil {
		return 0, false
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d, ok := r.spent[p]
	return d, ok
}

// Durations returns a copy of the time of every phase the task had; nil
// when it had none.
func (r *Recorder) Durations() map[Phase]time.Duration {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.spent) == 0 {
		return nil
	}
	out := make(map[Phase]time.Duration, len(r.spent))
	for p, d := range r.spent {
		out[p] = d
	}
	return out
}

// Milliseconds returns the time of every phase the task had in whole
// milliseconds, rounded down, keyed by phase name: the timings of a
// .finished. Rounding down keeps their sum within the task's time.
func (r *Recorder) Milliseconds() map[string]int64 {
	spent := r.Durations()
	if spent == nil {
		return nil
	}
	out := make(map[string]int64, len(spent))
	for p, d := range spent {
		out[string(p)] = d.Milliseconds()
	}
	return out
}

type recorderKey struct{}

// With returns ctx carrying r.
func With(ctx context.Context, r *Recorder) context.Context {
	return context.WithValue(ctx, recorderKey{}, r)
}

// From returns the recorder ctx carries, or nil (which records nothing).
func From(ctx context.Context) *Recorder {
	r, _ := ctx.Value(recorderKey{}).(*Recorder)
	return r
}

// Time starts timing phase p on the recorder ctx carries; call the result
// when the phase ends.
func Time(ctx context.Context, p Phase) func() { return From(ctx).Start(p) }
