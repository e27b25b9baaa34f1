package helm

import (
	"bytes"
	"context"
	"sync/atomic"
	"time"

	"helm.sh/helm/v3/pkg/postrender"

	"github.com/helm-service/helm-service/pkg/timings"
)

// actionPhases splits the time of one Helm action into the phases of the
// task's timings (pkg/timings): the waits, which the waiting client
// records itself, the render, up to the end of the post-renderers, and
// apply, the rest.
type actionPhases struct {
	rec        *timings.Recorder
	start      time.Time
	waitBefore time.Duration
	// renderedAfter is how long after start the post-renderers ended,
	// in nanoseconds; 0 until they have.
	renderedAfter atomic.Int64
}

// phasesOf starts timing an action of the task in ctx.
func phasesOf(ctx context.Context) *actionPhases {
	rec := timings.From(ctx)
	waited, _ := rec.Spent(timings.Wait)
	return &actionPhases{rec: rec, start: time.Now(), waitBefore: waited}
}

// marking returns pr, marking the end of the render when it has run.
func (p *actionPhases) marking(pr postrender.PostRenderer) postrender.PostRenderer {
	return renderMark{pr: pr, phases: p}
}

// end records the action's phases. rendering says whether the action
// renders a chart: when the post-renderers never ran, all of its time up
// to the failure was render.
func (p *actionPhases) end(rendering bool) {
	total := time.Since(p.start)
	waited, _ := p.rec.Spent(timings.Wait)
	waited -= p.waitBefore
	var render time.Duration
	if rendering {
		render = time.Duration(p.renderedAfter.Load())
		if render == 0 {
			p.rec.Add(timings.Render, total)
			return
		}
		p.rec.Add(timings.Render, render)
	}
	p.rec.Add(timings.Apply, total-render-waited)
}

// renderMark is a post-renderer that notes when the one it wraps ended.
type renderMark struct {
	pr     postrender.PostRenderer
	phases *actionPhases
}

// Run implements postrender.PostRenderer.
func (m renderMark) Run(rendered *bytes.Buffer) (*bytes.Buffer, error) {
	out, err := m.pr.Run(rendered)
	m.phases.renderedAfter.CompareAndSwap(0, int64(max(time.Since(m.phases.start), 1)))
	return out, err
}
