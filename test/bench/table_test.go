package main

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
)

func TestRatios(t *testing.T) {
	results := []result{
		{tool: toolHelmService, phase: "install", n: 100, concurrency: 10, wall: 20 * time.Second, peakRSS: 100 << 10},
		{tool: toolHelmService, phase: "upgrade", n: 100, concurrency: 10, wall: 30 * time.Second, peakRSS: 100 << 10},
		{tool: toolHelmService, phase: "bg cycle", n: 100, concurrency: 10, wall: time.Minute},
		{tool: toolHelmService, phase: "install", n: 100, concurrency: 25, wall: 15 * time.Second},
		{tool: toolFloor, phase: "install", n: 100, concurrency: 10, wall: 16 * time.Second},
		{tool: toolFloor, phase: "upgrade", n: 100, concurrency: 10, wall: 20 * time.Second},
		{tool: toolFlux, phase: "install", n: 100, concurrency: 10, wall: 40 * time.Second, peakRSS: 250 << 10},
		{tool: toolFloor, phase: "install", n: 100, concurrency: 25, wall: 12 * time.Second},
		{tool: toolHelmService, phase: "install", n: 2, concurrency: 1, wall: 503 * time.Millisecond},
		{tool: toolFloor, phase: "install", n: 2, concurrency: 1, wall: 127 * time.Millisecond},
	}
	type row struct {
		Phase            string
		Concurrency      int
		Floor, Flux, RSS string
	}
	var got []row
	for _, r := range ratios(results) {
		got = append(got, row{r.phase, r.concurrency, r.share(toolFloor), r.share(toolFlux), r.rssShare()})
	}
	want := []row{
		{"install", 10, "1.25× (16s)", "0.50× (40s)", "0.40×"},
		{"upgrade", 10, "1.50× (20s)", "-", "-"},
		{"install", 25, "1.25× (12s)", "-", "-"},
		{"install", 1, "3.96× (130ms)", "-", "-"},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("ratios (-want +got):\n%s", diff)
	}

	var out bytes.Buffer
	writeResults(&out, options{source: "dir"}, results)
	for _, line := range []string{"floor", "0.50× (40s)", "helm-service as a share of each baseline"} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("the table lacks %q:\n%s", line, out.String())
		}
	}
}

func TestRatiosPairEachRunWithItsOwnBaselines(t *testing.T) {
	// Three runs of the same n and concurrency: the second was slower all
	// round, and each ratio is taken within its run.
	results := []result{
		{tool: toolHelmService, phase: "install", n: 100, concurrency: 10, round: 1, wall: 10 * time.Second, peakRSS: 90 << 10},
		{tool: toolFloor, phase: "install", n: 100, concurrency: 10, round: 1, wall: 8 * time.Second},
		{tool: toolFlux, phase: "install", n: 100, concurrency: 10, round: 1, wall: 50 * time.Second, peakRSS: 180 << 10},
		{tool: toolHelmService, phase: "install", n: 100, concurrency: 10, round: 2, wall: 15 * time.Second, peakRSS: 90 << 10},
		{tool: toolFloor, phase: "install", n: 100, concurrency: 10, round: 2, wall: 10 * time.Second},
		{tool: toolFlux, phase: "install", n: 100, concurrency: 10, round: 2, wall: 60 * time.Second, peakRSS: 200 << 10},
		{tool: toolHelmService, phase: "install", n: 100, concurrency: 10, round: 3, wall: 11 * time.Second},
		{tool: toolFloor, phase: "install", n: 100, concurrency: 10, round: 3, wall: 10 * time.Second},
		{tool: toolRecords, phase: "install", n: 100, concurrency: 10, round: 3, wall: 12 * time.Second},
	}
	var got []string
	for _, r := range ratios(results) {
		got = append(got, r.share(toolFloor))
	}
	if diff := cmp.Diff([]string{"1.25× (8s)", "1.50× (10s)", "1.10× (10s)"}, got); diff != "" {
		t.Errorf("ratios (-want +got):\n%s", diff)
	}

	m := medians(ratios(results))
	if len(m) != 1 {
		t.Fatalf("medians: %d rows, want one for install at 100 and 10", len(m))
	}
	want := medianRow{n: 100, concurrency: 10, runs: 3, phase: "install",
		wall: map[string]string{
			toolFloor:   "1.25× (1.10–1.50)",
			toolRecords: "0.92× (0.92–0.92)",
			toolCLI:     "-",
			toolFlux:    "0.23× (0.20–0.25)", // 10/50 and 15/60: the middle of two
		},
		rss:         "0.47× (0.45–0.50)",
		bookkeeping: "1.20× (1.20–1.20)", // the third run's alone
	}
	if diff := cmp.Diff(want, m[0], cmp.AllowUnexported(medianRow{})); diff != "" {
		t.Errorf("medians (-want +got):\n%s", diff)
	}

	var out bytes.Buffer
	writeResults(&out, options{source: "dir", repeat: 3}, results)
	for _, line := range []string{"median over the runs", "1.25× (1.10–1.50)", " run "} {
		if !strings.Contains(out.String(), line) {
			t.Errorf("the table lacks %q:\n%s", line, out.String())
		}
	}
	out.Reset()
	writeResults(&out, options{source: "dir", repeat: 1}, results[:3])
	if s := out.String(); strings.Contains(s, "median") || strings.Contains(s, " run ") {
		t.Errorf("one run's table has a run column or medians:\n%s", s)
	}
}
