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
