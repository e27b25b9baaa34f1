package e2e

import (
	"bufio"
	"encoding/json"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	helmrelease "helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// helmInProgress is Helm's refusal to touch a release another operation
// works on: what two replicas on one release at once run into.
const helmInProgress = "another operation (install/upgrade/rollback) is in progress"

// TestFaultReplicasShareOneRelease: three replicas receive a burst of
// deployments for the same service; one is killed mid-run and more
// deployments follow. The release leases keep the replicas off each other:
// every trigger gets one .finished, none meets Helm's "another operation is
// in progress", the deployments of the service never overlap in time, no
// release is left pending, and the newest trigger is what runs.
func TestFaultReplicasShareOneRelease(t *testing.T) {
	// The killed replica's leases expire after 6 s and its triggers are
	// delivered again after 4 s, instead of 30 s each, to keep the case
	// short; TestFaultKilledMidDeployDefaults shows the defaults.
	r := newRig(t, "ft-lease", map[string]string{"LOCK_TTL": "6s", "NATS_ACK_WAIT": "4s", "MAX_PARALLEL_TASKS": "4"})
	for range 3 {
		r.startService()
	}
	svc := r.services(1)[0]
	start := time.Now()
	for range 24 {
		r.send(svc)
	}
	r.waitFinished(2, 3*time.Minute)
	time.Sleep(time.Duration(300+time.Now().UnixNano()%1500) * time.Millisecond)
	killed := r.procs[0]
	kill(t, killed)
	killedAt := time.Now()
	t.Logf("killed one replica with %d of %d triggers answered", r.count().finished, len(r.sent))
	for range 12 {
		r.send(svc)
	}
	rep := r.settle(5*time.Minute, start)

	deployed, superseded := 0, 0
	for _, s := range r.sent {
		d, _ := r.finishedData(s.id)
		switch {
		case strings.Contains(d.Message, helmInProgress):
			t.Errorf("trigger %s met a concurrent Helm operation: %s", s.id, d.Message)
		case strings.Contains(d.Message, "superseded by trigger"):
			superseded++
		case d.Deployment != nil && d.Deployment.HelmRevision > 0:
			deployed++
		}
	}
	t.Logf("%d of %d triggers deployed, %d superseded", deployed, rep.sent, superseded)

	// Helm's history of the release: every revision deployed or
	// superseded, or failed only where helm-service recovered the one
	// the killed replica left pending.
	history, err := storage.Init(driver.NewSecrets(suite.clientset.CoreV1().Secrets(r.namespace()))).History(svc)
	if err != nil {
		t.Fatal(err)
	}
	for _, rel := range history {
		switch rel.Info.Status {
		case helmrelease.StatusDeployed, helmrelease.StatusSuperseded:
		case helmrelease.StatusFailed:
			if !strings.Contains(rel.Info.Description, "interrupted; marked failed by helm-service") {
				t.Errorf("revision %d failed: %s", rel.Version, rel.Info.Description)
			}
		default:
			t.Errorf("revision %d is %s: %s", rel.Version, rel.Info.Status, rel.Info.Description)
		}
		if strings.Contains(rel.Info.Description, helmInProgress) {
			t.Errorf("revision %d met a concurrent Helm operation: %s", rel.Version, rel.Info.Description)
		}
	}

	// The tasks' own logs: from "deploying" to the task's answer, no two
	// replicas' deployments of the service overlap. The killed replica's
	// last one ends when it was killed.
	var spans []span
	for _, p := range r.procs {
		end := time.Time{}
		if p == killed {
			end = killedAt
		}
		spans = append(spans, deploySpans(t, p.logPath, end)...)
	}
	slices.SortFunc(spans, func(a, b span) int { return a.start.Compare(b.start) })
	for i := 1; i < len(spans); i++ {
		if prev, cur := spans[i-1], spans[i]; cur.start.Before(prev.end) {
			t.Errorf("deployment of trigger %s (%s) started at %s, before that of %s (%s) ended at %s",
				cur.trigger, cur.replica, cur.start.Format(time.StampMilli), prev.trigger, prev.replica, prev.end.Format(time.StampMilli))
		}
	}
	waits := 0
	for _, p := range r.procs {
		waits += logCount(t, p.logPath, "waiting for another replica to finish with the release")
	}
	t.Logf("%d deployments across %d replicas, none overlapping; %d waits for another replica's lease; %d revisions in Helm's history", len(spans), len(r.procs), waits, len(history))
	if len(spans) < 2 || waits == 0 {
		t.Errorf("%d deployments ran and %d waited for a lease: the case did not exercise the leases", len(spans), waits)
	}
}

// span is one task's deployment of a release, from its log.
type span struct {
	trigger, replica string
	start, end       time.Time
}

// logLine is the part of a helm-service JSON log line the fault cases read.
type logLine struct {
	Time    time.Time `json:"time"`
	Msg     string    `json:"msg"`
	Trigger string    `json:"triggeredid"`
}

// readLog returns the JSON lines of a helm-service log.
func readLog(t *testing.T, logPath string) []logLine {
	t.Helper()
	f, err := os.Open(logPath)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []logLine
	s := bufio.NewScanner(f)
	s.Buffer(make([]byte, 1<<20), 1<<20)
	for s.Scan() {
		var l logLine
		if json.Unmarshal(s.Bytes(), &l) == nil {
			out = append(out, l)
		}
	}
	if err := s.Err(); err != nil {
		t.Fatalf("read %s: %v", logPath, err)
	}
	return out
}

// deploySpans reads a helm-service log: each trigger's span runs from its
// first "deploying" to its "task finished" or "task failed" line. A span
// with no end ends at killed, or is reported when the process was not
// killed.
func deploySpans(t *testing.T, logPath string, killed time.Time) []span {
	t.Helper()
	open := map[string]*span{}
	var out []span
	for _, line := range readLog(t, logPath) {
		if line.Trigger == "" {
			continue
		}
		switch line.Msg {
		case "deploying":
			if open[line.Trigger] == nil {
				open[line.Trigger] = &span{trigger: line.Trigger, replica: logPath, start: line.Time}
			}
		case "task finished", "task failed":
			if sp := open[line.Trigger]; sp != nil {
				sp.end = line.Time
				out = append(out, *sp)
				delete(open, line.Trigger)
			}
		}
	}
	for _, sp := range open {
		if killed.IsZero() {
			t.Errorf("%s: deployment of trigger %s started at %s and never ended", logPath, sp.trigger, sp.start.Format(time.StampMilli))
			continue
		}
		sp.end = killed
		out = append(out, *sp)
	}
	return out
}
