package main

import (
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// The baselines -baseline can ask for, in the order they run.
const (
	baselineCLI     = "cli"     // `helm upgrade --install --wait`, one process per release
	baselineFloor   = "floor"   // the same objects applied with server-side apply, no Helm
	baselineRecords = "records" // the floor plus Helm's bookkeeping of each release
	baselineFlux    = "flux"    // Flux's helm-controller and source-controller
)

var knownBaselines = []string{baselineCLI, baselineFloor, baselineRecords, baselineFlux}

// parseBaselines reads -baseline: a comma-separated list of known
// baselines, each at most once; "true" (the flag given alone) means cli,
// "false" or empty none.
func parseBaselines(s string) ([]string, error) {
	switch strings.TrimSpace(s) {
	case "", "false":
		return nil, nil
	case "true":
		return []string{baselineCLI}, nil
	}
	var out []string
	for part := range strings.SplitSeq(s, ",") {
		b := strings.TrimSpace(part)
		if !slices.Contains(knownBaselines, b) {
			return nil, fmt.Errorf("-baseline %q: %q is not a baseline; write a comma-separated list of %s", s, b, strings.Join(knownBaselines, ", "))
		}
		if slices.Contains(out, b) {
			return nil, fmt.Errorf("-baseline %q: %s is named twice", s, b)
		}
		out = append(out, b)
	}
	// Run them in a fixed order, whatever order they were named in.
	slices.SortFunc(out, func(a, b string) int { return slices.Index(knownBaselines, a) - slices.Index(knownBaselines, b) })
	return out, nil
}

// parseCounts reads a comma-separated list of positive whole numbers (-n,
// -concurrency), in the order given, without repeats.
func parseCounts(flagName, s string) ([]int, error) {
	var out []int
	for part := range strings.SplitSeq(s, ",") {
		v, err := strconv.Atoi(strings.TrimSpace(part))
		if err != nil || v <= 0 {
			return nil, fmt.Errorf("-%s %q: %q is not a positive whole number; write one or a comma-separated list, e.g. 10,25,50", flagName, s, part)
		}
		if slices.Contains(out, v) {
			return nil, fmt.Errorf("-%s %q: %d is named twice", flagName, s, v)
		}
		out = append(out, v)
	}
	return out, nil
}

// normalizeArgs lets -baseline stand alone (meaning cli, as it did when it
// was a switch) and take its list as the next argument (-baseline
// cli,floor): a -baseline without "=" takes the next argument as its value
// when that is a list of baselines, and "true" otherwise.
func normalizeArgs(args []string) []string {
	out := make([]string, 0, len(args))
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return append(out, args[i:]...)
		}
		if a != "-baseline" && a != "--baseline" {
			out = append(out, a)
			continue
		}
		if i+1 < len(args) && !strings.HasPrefix(args[i+1], "-") {
			if _, err := parseBaselines(args[i+1]); err == nil || strings.Contains(args[i+1], ",") || slices.Contains(knownBaselines, args[i+1]) {
				out = append(out, a+"="+args[i+1])
				i++
				continue
			}
		}
		out = append(out, a+"=true")
	}
	return out
}
