package main

import (
	"slices"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestNormalizeArgs(t *testing.T) {
	for _, tc := range []struct {
		args, want []string
	}{
		{[]string{"-n", "3", "-baseline"}, []string{"-n", "3", "-baseline=true"}},
		{[]string{"-baseline", "-n", "3"}, []string{"-baseline=true", "-n", "3"}},
		{[]string{"-baseline", "cli,floor,flux", "-n", "3"}, []string{"-baseline=cli,floor,flux", "-n", "3"}},
		{[]string{"--baseline", "floor"}, []string{"--baseline=floor"}},
		{[]string{"-baseline=flux"}, []string{"-baseline=flux"}},
		// A misspelt list is still taken as the value, so that it is refused
		// with a message rather than left as a stray argument.
		{[]string{"-baseline", "cli,flx"}, []string{"-baseline=cli,flx"}},
		{[]string{"-baseline", "--", "-baseline"}, []string{"-baseline=true", "--", "-baseline"}},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			if diff := cmp.Diff(tc.want, normalizeArgs(tc.args)); diff != "" {
				t.Errorf("normalizeArgs (-want +got):\n%s", diff)
			}
		})
	}
}

func TestParseBaselines(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []string
		wantErr string
	}{
		{"", nil, ""},
		{"false", nil, ""},
		{"true", []string{"cli"}, ""},
		{"flux,cli", []string{"cli", "flux"}, ""},
		{"cli, floor ,flux", []string{"cli", "floor", "flux"}, ""},
		{"cli,flx", nil, `"flx" is not a baseline`},
		{"floor,floor", nil, "floor is named twice"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseBaselines(tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseBaselines(%q) = %v, %v; want an error saying %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseBaselines(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestParseCounts(t *testing.T) {
	for _, tc := range []struct {
		in      string
		want    []int
		wantErr string
	}{
		{"10", []int{10}, ""},
		{"10,25,50", []int{10, 25, 50}, ""},
		{"100, 1000", []int{100, 1000}, ""},
		{"0", nil, "not a positive whole number"},
		{"10,x", nil, `"x" is not a positive whole number`},
		{"10,10", nil, "10 is named twice"},
	} {
		t.Run(tc.in, func(t *testing.T) {
			got, err := parseCounts("concurrency", tc.in)
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("parseCounts(%q) = %v, %v; want an error saying %q", tc.in, got, err, tc.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if diff := cmp.Diff(tc.want, got); diff != "" {
				t.Errorf("parseCounts(%q) (-want +got):\n%s", tc.in, diff)
			}
		})
	}
}

func TestServiceEnvPutsSetSettingsInPlace(t *testing.T) {
	own := []string{"NATS_URL=nats://x", "MAX_PARALLEL_TASKS=10", "LOG_LEVEL=info"}
	for _, c := range []struct {
		name string
		set  []string
		want []string
	}{
		{"none", nil, own},
		{"a new one", []string{"KUBE_QPS=100"}, append(slices.Clone(own), "KUBE_QPS=100")},
		{"one of the bench's", []string{"LOG_LEVEL=debug"}, []string{"NATS_URL=nats://x", "MAX_PARALLEL_TASKS=10", "LOG_LEVEL=debug"}},
		{"the service's own parallelism", []string{"MAX_PARALLEL_TASKS=default"}, []string{"NATS_URL=nats://x", "LOG_LEVEL=info"}},
	} {
		t.Run(c.name, func(t *testing.T) {
			if got := serviceEnv(c.set, own...); !slices.Equal(got, c.want) {
				t.Errorf("serviceEnv(%q) = %q, want %q", c.set, got, c.want)
			}
		})
	}
}
