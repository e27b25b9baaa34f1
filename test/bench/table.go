package main

import (
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"
)

// The tools a result can be of.
const (
	toolHelmService = "helm-service"
	toolCLI         = "helm CLI"
	toolFloor       = "floor"
	toolRecords     = "floor+records"
	toolFlux        = "flux"
)

func printResults(o options, results []result) {
	writeResults(os.Stdout, o, results)
}

// writeResults prints every measured phase, one row each, then for every
// run and phase helm-service's wall time and peak RSS as a ratio of each
// baseline's.
func writeResults(w io.Writer, o options, results []result) {
	fmt.Fprintf(w, "\nchart source %s; peak RSS and CPU: of the measured process (flux: helm-controller, source-controller in the note; helm CLI: one process at most, CPU of all); cluster CPU: of the local cluster's processes (etcd, API server, controller manager, scheduler, kwok) during the phase\n", o.source)
	// With -repeat, a column says which run of its n and concurrency a row
	// is; without, the table is as it always was.
	runHeader, run := "", func(result) string { return "" }
	if o.repeat > 1 {
		runHeader, run = fmt.Sprintf("%4s ", "run"), func(r result) string { return fmt.Sprintf("%4d ", r.round) }
	}
	fmt.Fprintf(w, "%6s %5s %s%-13s %-15s %6s %10s %8s %20s %20s %10s %9s %11s  %s\n", "n", "conc", runHeader, "tool", "phase", "failed", "wall", "per sec", "started p50/p95/p99", "finished p50/p95/p99", "peak RSS", "CPU", "cluster CPU", "note")
	for _, r := range results {
		note := r.note
		if r.sidePeakRSS > 0 {
			note = fmt.Sprintf("source-controller %.1fMi, %s CPU", float64(r.sidePeakRSS)/1024, r.cpuString(r.sideCPU)) + join("; ", note)
		}
		fmt.Fprintf(w, "%6d %5d %s%-13s %-15s %6d %10s %8.1f %20s %20s %10s %9s %11s  %s\n",
			r.n, r.concurrency, run(r), r.tool, r.phase, r.failures, r.wall.Round(time.Millisecond), float64(r.n)/r.wall.Seconds(),
			percentiles(r.started), percentiles(r.finished), rss(r.peakRSS), r.cpuString(r.cpu), clusterCPUString(r.clusterCPU), note)
		if phases := whereTheTimeGoes(r, r.n); phases != "" {
			fmt.Fprintf(w, "%6s %5s %s%-13s %s\n", "", "", strings.Repeat(" ", len(runHeader)), "  phases/task", phases)
		}
	}
	rows := ratios(results)
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nhelm-service as a share of each baseline (wall time; RSS: of helm-controller's peak)\n")
	fmt.Fprintf(w, "%6s %5s %s%-8s %10s %16s %16s %16s %16s %14s\n", "n", "conc", runHeader, "phase", "hs wall", "÷ floor", "÷ floor+records", "÷ helm CLI", "÷ flux", "RSS ÷ flux")
	for _, r := range rows {
		fmt.Fprintf(w, "%6d %5d %s%-8s %10s %16s %16s %16s %16s %14s\n", r.n, r.concurrency, run(r.result), r.phase, r.wall.Round(time.Millisecond),
			r.share(toolFloor), r.share(toolRecords), r.share(toolCLI), r.share(toolFlux), r.rssShare())
	}
	if o.repeat < 2 {
		return
	}
	fmt.Fprintf(w, "\nthe same, median over the runs (lowest–highest)\n")
	fmt.Fprintf(w, "%6s %5s %4s %-8s %20s %20s %20s %20s %20s %24s\n", "n", "conc", "runs", "phase", "÷ floor", "÷ floor+records", "÷ helm CLI", "÷ flux", "RSS ÷ flux", "floor+records ÷ floor")
	for _, m := range medians(rows) {
		fmt.Fprintf(w, "%6d %5d %4d %-8s %20s %20s %20s %20s %20s %24s\n", m.n, m.concurrency, m.runs, m.phase,
			m.wall[toolFloor], m.wall[toolRecords], m.wall[toolCLI], m.wall[toolFlux], m.rss, m.bookkeeping)
	}
}

// medianRow is, for one n, concurrency and phase, each ratio of ratioRow
// over the runs of -repeat: its median, lowest and highest, as text.
type medianRow struct {
	n, concurrency, runs int
	phase                string
	wall                 map[string]string // by baseline
	rss                  string
	// bookkeeping is floor+records ÷ floor: what Helm's records alone
	// cost, the least any Helm-based tool adds to the floor.
	bookkeeping string
}

// medians groups rows by n, concurrency and phase, in the order they first
// come, and sums up each ratio over a group's runs. Ratios are taken within
// a run, helm-service's against the baseline's that ran right after it, so
// that a run slower all round does not count against either.
func medians(rows []ratioRow) []medianRow {
	type key struct {
		n, concurrency int
		phase          string
	}
	var order []key
	groups := map[key][]ratioRow{}
	for _, r := range rows {
		k := key{r.n, r.concurrency, r.phase}
		if _, ok := groups[k]; !ok {
			order = append(order, k)
		}
		groups[k] = append(groups[k], r)
	}
	out := make([]medianRow, 0, len(order))
	for _, k := range order {
		g := groups[k]
		m := medianRow{n: k.n, concurrency: k.concurrency, phase: k.phase, runs: len(g), wall: map[string]string{}}
		for _, tool := range []string{toolFloor, toolRecords, toolCLI, toolFlux} {
			m.wall[tool] = spreadOf(g, func(r ratioRow) (float64, float64) { return r.wall.Seconds(), r.others[tool].wall.Seconds() })
		}
		m.rss = spreadOf(g, func(r ratioRow) (float64, float64) {
			return float64(r.peakRSS), float64(r.others[toolFlux].peakRSS)
		})
		m.bookkeeping = spreadOf(g, func(r ratioRow) (float64, float64) {
			return r.others[toolRecords].wall.Seconds(), r.others[toolFloor].wall.Seconds()
		})
		out = append(out, m)
	}
	return out
}

// spreadOf is spread of the ratios a ÷ b that pair gives for the runs of
// g, leaving out the runs where either is missing (zero).
func spreadOf(g []ratioRow, pair func(ratioRow) (a, b float64)) string {
	var v []float64
	for _, r := range g {
		if a, b := pair(r); a > 0 && b > 0 {
			v = append(v, a/b)
		}
	}
	return spread(v)
}

// spread writes the median of v with its lowest and highest, "-" for none.
func spread(v []float64) string {
	if len(v) == 0 {
		return "-"
	}
	s := slices.Clone(v)
	slices.Sort(s)
	mid := s[len(s)/2]
	if len(s)%2 == 0 {
		mid = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return fmt.Sprintf("%.2f× (%.2f–%.2f)", mid, s[0], s[len(s)-1])
}

func clusterCPUString(d time.Duration) string {
	if d == 0 {
		return "-"
	}
	return d.Round(10 * time.Millisecond).String()
}

func join(sep, s string) string {
	if s == "" {
		return ""
	}
	return sep + s
}

func rss(kib int64) string {
	if kib == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1fMi", float64(kib)/1024)
}

func (r result) cpuString(d time.Duration) string {
	if d == 0 && (r.tool == toolFloor || r.tool == toolRecords) {
		return "-"
	}
	return d.Round(10 * time.Millisecond).String()
}

// ratioRow is helm-service's result of one phase of one run, with the
// baselines' results of the same phase and run.
type ratioRow struct {
	result
	others map[string]result
}

func (r ratioRow) share(tool string) string {
	o, ok := r.others[tool]
	if !ok || o.wall == 0 {
		return "-"
	}
	s := fmt.Sprintf("%.2f× (%s)", r.wall.Seconds()/o.wall.Seconds(), roundWall(o.wall))
	if o.failures > 0 || r.failures > 0 {
		s += "!"
	}
	return s
}

// roundWall rounds d to two or three significant digits.
func roundWall(d time.Duration) time.Duration {
	if d < 10*time.Second {
		return d.Round(10 * time.Millisecond)
	}
	return d.Round(100 * time.Millisecond)
}

func (r ratioRow) rssShare() string {
	o, ok := r.others[toolFlux]
	if !ok || o.peakRSS == 0 || r.peakRSS == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2f×", float64(r.peakRSS)/float64(o.peakRSS))
}

// ratios pairs each install and upgrade of helm-service with the same
// phase of the baselines in the same run (n, concurrency and round).
func ratios(results []result) []ratioRow {
	var rows []ratioRow
	for _, r := range results {
		if r.tool != toolHelmService || (r.phase != "install" && r.phase != "upgrade") {
			continue
		}
		row := ratioRow{result: r, others: map[string]result{}}
		for _, o := range results {
			if o.tool != toolHelmService && o.n == r.n && o.concurrency == r.concurrency && o.round == r.round && o.phase == r.phase {
				row.others[o.tool] = o
			}
		}
		if len(row.others) > 0 {
			rows = append(rows, row)
		}
	}
	return rows
}

func percentiles(d []time.Duration) string {
	if len(d) == 0 {
		return "-"
	}
	s := slices.Clone(d)
	slices.Sort(s)
	p := func(q float64) string {
		i := min(len(s)-1, int(q*float64(len(s))))
		return s[i].Round(time.Millisecond).String()
	}
	return p(0.50) + "/" + p(0.95) + "/" + p(0.99)
}
