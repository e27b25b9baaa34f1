package main

import (
	"fmt"
	"io"
	"os"
	"slices"
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
	fmt.Fprintf(w, "%6s %5s %-13s %-15s %6s %10s %8s %20s %20s %10s %9s %11s  %s\n", "n", "conc", "tool", "phase", "failed", "wall", "per sec", "started p50/p95/p99", "finished p50/p95/p99", "peak RSS", "CPU", "cluster CPU", "note")
	for _, r := range results {
		note := r.note
		if r.sidePeakRSS > 0 {
			note = fmt.Sprintf("source-controller %.1fMi, %s CPU", float64(r.sidePeakRSS)/1024, r.cpuString(r.sideCPU)) + join("; ", note)
		}
		fmt.Fprintf(w, "%6d %5d %-13s %-15s %6d %10s %8.1f %20s %20s %10s %9s %11s  %s\n",
			r.n, r.concurrency, r.tool, r.phase, r.failures, r.wall.Round(time.Millisecond), float64(r.n)/r.wall.Seconds(),
			percentiles(r.started), percentiles(r.finished), rss(r.peakRSS), r.cpuString(r.cpu), clusterCPUString(r.clusterCPU), note)
		if phases := whereTheTimeGoes(r, r.n); phases != "" {
			fmt.Fprintf(w, "%6s %5s %-13s %s\n", "", "", "  phases/task", phases)
		}
	}
	rows := ratios(results)
	if len(rows) == 0 {
		return
	}
	fmt.Fprintf(w, "\nhelm-service as a share of each baseline (wall time; RSS: of helm-controller's peak)\n")
	fmt.Fprintf(w, "%6s %5s %-8s %10s %16s %16s %16s %16s %14s\n", "n", "conc", "phase", "hs wall", "÷ floor", "÷ floor+records", "÷ helm CLI", "÷ flux", "RSS ÷ flux")
	for _, r := range rows {
		fmt.Fprintf(w, "%6d %5d %-8s %10s %16s %16s %16s %16s %14s\n", r.n, r.concurrency, r.phase, r.wall.Round(time.Millisecond),
			r.share(toolFloor), r.share(toolRecords), r.share(toolCLI), r.share(toolFlux), r.rssShare())
	}
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
// phase of the baselines in the same run (n and concurrency).
func ratios(results []result) []ratioRow {
	var rows []ratioRow
	for _, r := range results {
		if r.tool != toolHelmService || (r.phase != "install" && r.phase != "upgrade") {
			continue
		}
		row := ratioRow{result: r, others: map[string]result{}}
		for _, o := range results {
			if o.tool != toolHelmService && o.n == r.n && o.concurrency == r.concurrency && o.phase == r.phase {
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
