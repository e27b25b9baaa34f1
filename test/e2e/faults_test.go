package e2e

import (
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	helmrelease "helm.sh/helm/v3/pkg/release"
	"helm.sh/helm/v3/pkg/storage"
	"helm.sh/helm/v3/pkg/storage/driver"
	helmtime "helm.sh/helm/v3/pkg/time"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/helm-service/helm-service/eventbus"
	"github.com/helm-service/helm-service/pkg/events"
)

// The fault suite: each case publishes a known number of triggers, does
// something bad to helm-service, NATS or a release, and checks that every
// trigger got exactly one final .finished, that the cluster runs what the
// last trigger of each service asked for, and that no release is left
// pending. Each case runs its own NATS server (in this process unless the
// case needs another, with JetStream on a data dir of its own) and its own
// helm-service processes.

// rig is the world of one fault case.
type rig struct {
	t    *testing.T
	addr string // NATS host:port, kept across restarts
	// servers lists every NATS server's URL, comma-separated, when the
	// case runs a NATS cluster; empty means addr alone.
	servers string
	dataDir string
	nc      *nats.Conn
	answers *answerLog
	project string
	stage   string
	procs   []*serviceProcess
	env     map[string]string

	mu   sync.Mutex
	sent []sentTrigger
}

type sentTrigger struct {
	id, service, image string
}

// natsServer is the NATS server of a fault case, with JetStream, on the
// rig's address and data dir.
type natsServer interface {
	start(addr, dataDir string) error
	shutdown()
}

// embeddedNATS runs the server in the test process.
type embeddedNATS struct{ ns *server.Server }

func (e *embeddedNATS) start(addr, dataDir string) error {
	ns, err := eventbus.StartEmbedded(eventbus.EmbeddedOptions{Listen: addr, DataDir: dataDir})
	e.ns = ns
	return err
}

func (e *embeddedNATS) shutdown() {
	if e.ns != nil {
		e.ns.Shutdown()
		e.ns.WaitForShutdown()
	}
}

func newRig(t *testing.T, name string, env map[string]string) *rig {
	t.Helper()
	return newRigOn(t, name, env, &embeddedNATS{})
}

// newRigOn is newRig with the given NATS server.
func newRigOn(t *testing.T, name string, env map[string]string, server natsServer) *rig {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &rig{t: t, addr: l.Addr().String(), dataDir: t.TempDir(), project: suite.project(name), stage: "ft"}
	l.Close()
	if err := server.start(r.addr, r.dataDir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(server.shutdown)
	if c, ok := server.(interface{ clientURLs() string }); ok {
		r.servers = c.clientURLs()
	}
	// The local cluster's nodes hold a few hundred pods: leave room for
	// the next case.
	t.Cleanup(func() {
		_ = suite.clientset.CoreV1().Namespaces().Delete(context.Background(), r.namespace(), metav1.DeleteOptions{})
	})

	// Answers are read through a durable JetStream consumer of their own,
	// so that none is missed while NATS or this connection restarts.
	listener, err := eventbus.Connect(context.Background(), eventbus.Options{URL: r.url(), Mode: eventbus.ModeJetStream, Name: "e2e-answers"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(listener.Close)
	r.answers = &answerLog{byID: map[string][]cloudevents.Event{}}
	r.answers.changed = sync.NewCond(&r.answers.mu)
	err = listener.Subscribe(context.Background(), []string{"sh.keptn.event.deployment.started", "sh.keptn.event.deployment.finished"}, "e2e-answers", func(ctx context.Context, d eventbus.Delivery) {
		if d.Event != nil {
			r.answers.add(*d.Event)
		}
		_ = d.Ack(ctx)
	})
	if err != nil {
		t.Fatal(err)
	}
	r.nc, err = nats.Connect(r.url(), nats.MaxReconnects(-1), nats.ReconnectWait(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(r.nc.Close)

	// Default settings: a case that changes one says which and why. None
	// changes PENDING_RELEASE_AGE: recovery must hold with the default.
	r.env = map[string]string{
		"NATS_URL":   r.url(),
		"KUBECONFIG": suite.kubeconfig,
		"CHART_DIR":  suite.chartDir,
		"HTTP_ADDR":  "127.0.0.1:0",
		"LOG_LEVEL":  "debug",
		// The cases stop their processes with SIGTERM at the end: a grace
		// under the 30 s the stop waits for.
		"SHUTDOWN_GRACE": "10s",
	}
	for k, v := range env {
		r.env[k] = v
	}
	return r
}

// url is the NATS server, or the cluster's servers, to connect to.
func (r *rig) url() string {
	if r.servers != "" {
		return r.servers
	}
	return "nats://" + r.addr
}

// startService starts one more helm-service process on the rig's NATS.
func (r *rig) startService() *serviceProcess {
	r.t.Helper()
	p, err := startService(suite.binary, filepath.Join(r.dataDir, fmt.Sprintf("service-%d.log", len(r.procs))), r.env)
	if err != nil {
		r.t.Fatal(err)
	}
	r.procs = append(r.procs, p)
	r.t.Cleanup(func() {
		if p.cmd.ProcessState == nil {
			_, _ = p.stop()
		}
		if r.t.Failed() {
			p.dumpLog(os.Stderr)
		}
	})
	return p
}

// services copies the sample chart for n services of the rig's project.
func (r *rig) services(n int) []string {
	r.t.Helper()
	names := make([]string, n)
	for i := range names {
		names[i] = fmt.Sprintf("svc-%02d", i)
		if err := os.CopyFS(filepath.Join(suite.chartDir, r.project, names[i]), os.DirFS(filepath.Join(suite.chartDir, "carts"))); err != nil {
			r.t.Fatal(err)
		}
	}
	return names
}

func (r *rig) namespace() string { return r.project + "-" + r.stage }

// send publishes a deployment of service with a fresh image tag.
func (r *rig) send(service string) {
	r.t.Helper()
	r.mu.Lock()
	image := fmt.Sprintf("example/%s:%d", service, len(r.sent)+1)
	r.mu.Unlock()
	id := suite.trigger(r.t, r.nc, deploymentTrigger(r.project, r.stage, service, "direct", map[string]any{"image": image, "replicaCount": 1}))
	r.mu.Lock()
	r.sent = append(r.sent, sentTrigger{id: id, service: service, image: image})
	r.mu.Unlock()
}

func (r *rig) startedCount() int {
	r.answers.mu.Lock()
	defer r.answers.mu.Unlock()
	n := 0
	for _, s := range r.sent {
		for _, e := range r.answers.byID[s.id] {
			if strings.HasSuffix(e.Type(), ".started") {
				n++
				break
			}
		}
	}
	return n
}

func (r *rig) waitStarted(n int, timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for r.startedCount() < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("only %d of %d tasks started within %s", r.startedCount(), n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func (r *rig) waitFinished(n int, timeout time.Duration) {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	for r.count().finished < n {
		if time.Now().After(deadline) {
			r.t.Fatalf("only %d of %d triggers answered within %s", r.count().finished, n, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// report is what a fault case measured.
type report struct {
	sent, finished, duplicates, lost, pending int
	recovery                                  time.Duration
}

// settle waits until every trigger has a .finished (or timeout), then
// checks the outcome and returns the figures. since is when the fault
// ended; recovery is the time from then until the last .finished.
func (r *rig) settle(timeout time.Duration, since time.Time) report {
	r.t.Helper()
	deadline := time.Now().Add(timeout)
	var rep report
	for {
		rep = r.count()
		if rep.finished == rep.sent || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	rep.recovery = time.Since(since).Round(100 * time.Millisecond)
	time.Sleep(2 * time.Second) // a duplicate would show up now
	after := r.count()
	rep.duplicates = after.duplicates
	rep.pending = r.pendingReleases()
	r.t.Logf("FAULT-REPORT %-34s sent %3d  finished %3d  duplicates %d  lost %d  pending left %d  recovery %s",
		r.t.Name(), rep.sent, rep.finished, rep.duplicates, rep.lost, rep.pending, rep.recovery)
	if rep.lost != 0 || rep.duplicates != 0 || rep.pending != 0 || rep.finished != rep.sent {
		r.t.Errorf("sent %d, finished %d, duplicates %d, lost %d, pending %d", rep.sent, rep.finished, rep.duplicates, rep.lost, rep.pending)
	}
	r.checkClusterMatchesLastTriggers()
	return rep
}

// count tallies the final .finished per trigger: distinct .finished events
// (by CloudEvent id) beyond the first are duplicates.
func (r *rig) count() report {
	r.answers.mu.Lock()
	defer r.answers.mu.Unlock()
	r.mu.Lock()
	defer r.mu.Unlock()
	rep := report{sent: len(r.sent)}
	for _, s := range r.sent {
		ids := map[string]bool{}
		for _, e := range r.answers.byID[s.id] {
			if strings.HasSuffix(e.Type(), ".finished") {
				ids[e.ID()] = true
			}
		}
		switch {
		case len(ids) == 0:
			rep.lost++
		default:
			rep.finished++
			rep.duplicates += len(ids) - 1
		}
	}
	return rep
}

// finishedData is the data of the (first) .finished of a trigger.
func (r *rig) finishedData(id string) (events.DeploymentFinished, bool) {
	r.answers.mu.Lock()
	defer r.answers.mu.Unlock()
	for _, e := range r.answers.byID[id] {
		if strings.HasSuffix(e.Type(), ".finished") {
			var d events.DeploymentFinished
			_ = e.DataAs(&d)
			return d, true
		}
	}
	return events.DeploymentFinished{}, false
}

// checkClusterMatchesLastTriggers checks that the last trigger of each
// service succeeded and that its image is what runs.
func (r *rig) checkClusterMatchesLastTriggers() {
	r.t.Helper()
	last := map[string]sentTrigger{}
	r.mu.Lock()
	for _, s := range r.sent {
		last[s.service] = s
	}
	r.mu.Unlock()
	for svc, s := range last {
		d, ok := r.finishedData(s.id)
		if !ok {
			continue // already reported as lost
		}
		if d.Status != events.StatusSucceeded {
			r.t.Errorf("last trigger of %s finished %s: %s", svc, d.Status, d.Message)
			continue
		}
		if img := getDeployment(r.t, r.namespace(), svc).Spec.Template.Spec.Containers[0].Image; img != s.image {
			r.t.Errorf("%s runs %s, but its last trigger asked for %s", svc, img, s.image)
		}
	}
}

// pendingReleases counts Helm release records in a pending state.
func (r *rig) pendingReleases() int {
	secrets, err := suite.clientset.CoreV1().Secrets(r.namespace()).List(ctx(r.t), metav1.ListOptions{LabelSelector: "owner=helm"})
	if err != nil {
		r.t.Fatal(err)
	}
	n := 0
	for _, s := range secrets.Items {
		if strings.HasPrefix(s.Labels["status"], "pending") {
			r.t.Errorf("release record %s is %s", s.Name, s.Labels["status"])
			n++
		}
	}
	return n
}

// kill sends SIGKILL to a helm-service process and reaps it.
func kill(t *testing.T, p *serviceProcess) {
	t.Helper()
	close(p.done)
	if err := p.cmd.Process.Kill(); err != nil {
		t.Fatal(err)
	}
	_ = p.cmd.Wait()
}

func (a *answerLog) add(e cloudevents.Event) {
	a.mu.Lock()
	id := events.StringExtension(e, events.ExtTriggeredID)
	a.byID[id] = append(a.byID[id], e)
	a.mu.Unlock()
	a.changed.Broadcast()
}

// TestFaultPendingUpgrade: a release left pending-upgrade (as a killed
// process leaves it) is recovered before the next deployment, and the
// .finished says so.
func TestFaultPendingUpgrade(t *testing.T) {
	r := newRig(t, "ft-pend", nil)
	r.startService()
	svc := r.services(1)[0]
	r.send(svc)
	first := r.settle(3*time.Minute, time.Now())
	if first.lost != 0 {
		t.FailNow()
	}
	leavePendingUpgrade(t, r.namespace(), svc, time.Minute)

	start := time.Now()
	r.send(svc)
	r.settle(3*time.Minute, start)
	d, _ := r.finishedData(r.sent[1].id)
	for _, want := range []string{"left pending-upgrade at revision 2", "marked it failed and rolled back to revision 1"} {
		if !strings.Contains(d.Message, want) {
			t.Errorf("message %q does not say %q", d.Message, want)
		}
	}
	if d.Deployment == nil || d.Deployment.HelmRevision != 4 {
		t.Errorf("deployment = %+v, want revision 4 (2 failed, 3 the rollback)", d.Deployment)
	}
}

// TestFaultBurstOneService: 50 triggers for one service at once. Each is
// answered once; the newest wins, the ones it superseded say so.
func TestFaultBurstOneService(t *testing.T) {
	r := newRig(t, "ft-one", nil)
	r.startService()
	svc := r.services(1)[0]
	start := time.Now()
	for range 50 {
		r.send(svc)
	}
	r.settle(5*time.Minute, start)
	superseded := 0
	for _, s := range r.sent {
		if d, _ := r.finishedData(s.id); strings.Contains(d.Message, "superseded by trigger") {
			superseded++
		}
	}
	t.Logf("%d of 50 superseded, %d deployed", superseded, 50-superseded)
	if superseded == 0 {
		t.Error("no trigger was superseded: a burst for one release should deploy only a few")
	}
}

// TestFaultBurstManyServices: 50 triggers for 50 services at once.
func TestFaultBurstManyServices(t *testing.T) {
	r := newRig(t, "ft-many", nil)
	r.startService()
	start := time.Now()
	for _, svc := range r.services(50) {
		r.send(svc)
	}
	r.settle(8*time.Minute, start)
}

// TestFaultKilledMidDeploy: helm-service is killed with SIGKILL at random
// points while deploying, three times, and restarted each time.
func TestFaultKilledMidDeploy(t *testing.T) {
	// Three kills in one case: a trigger of a killed process is delivered
	// again after 4 s instead of the default 30 s, which keeps the case
	// short. TestFaultKilledMidDeployDefaults shows the default.
	r := newRig(t, "ft-kill", map[string]string{"NATS_ACK_WAIT": "4s"})
	p := r.startService()
	services := r.services(6)
	for i := range 12 {
		r.send(services[i%len(services)])
	}
	for round := range 3 {
		// Kill at a random point of the run: after a few more answers.
		r.waitFinished(round*2, 3*time.Minute)
		time.Sleep(time.Duration(500+rand.IntN(2500)) * time.Millisecond)
		kill(t, p)
		t.Logf("round %d: killed helm-service with %d of 12 triggers answered", round+1, r.count().finished)
		p = r.startService()
	}
	r.settle(5*time.Minute, time.Now())
}

// TestFaultKilledMidDeployDefaults: with default settings, helm-service is
// killed with SIGKILL 3 s into 20 deployments of 20 services and 3 of one
// more service, and started again. The new process waits for its dead
// predecessor's leases (LOCK_TTL) and redeliveries (NATS_ACK_WAIT), then
// recovers the releases the kill left pending at once, since it holds
// their leases: all answered within 2 minutes, none twice, none pending.
func TestFaultKilledMidDeployDefaults(t *testing.T) {
	r := newRig(t, "ft-killdef", nil)
	p := r.startService()
	services := r.services(21)
	for _, svc := range services[:20] {
		r.send(svc)
	}
	for range 3 {
		r.send(services[20])
	}
	time.Sleep(3 * time.Second)
	kill(t, p)
	t.Logf("killed helm-service with %d of %d triggers answered", r.count().finished, len(r.sent))
	killed := time.Now()
	r.startService()
	rep := r.settle(2*time.Minute, killed)
	if rep.recovery > 2*time.Minute {
		t.Errorf("answered %s after the kill, want within 2m with default settings", rep.recovery)
	}
}

// TestFaultTwoReplicasOneKilled: two replicas share the work; one is
// killed mid-run and the other finishes its tasks.
func TestFaultTwoReplicasOneKilled(t *testing.T) {
	// The killed replica's triggers go to the other after 4 s instead of
	// the default 30 s, to keep the case short.
	r := newRig(t, "ft-repl", map[string]string{"NATS_ACK_WAIT": "4s"})
	a := r.startService()
	r.startService()
	services := r.services(16)
	for _, svc := range services {
		r.send(svc)
	}
	r.waitStarted(6, 2*time.Minute)
	kill(t, a)
	r.settle(5*time.Minute, time.Now())
}

// leavePendingUpgrade stores a new revision of the release in
// pending-upgrade, started age ago, as a process killed mid-upgrade leaves
// it.
func leavePendingUpgrade(t *testing.T, namespace, name string, age time.Duration) {
	t.Helper()
	store := storage.Init(driver.NewSecrets(suite.clientset.CoreV1().Secrets(namespace)))
	last, err := store.Last(name)
	if err != nil {
		t.Fatal(err)
	}
	pending := *last
	info := *last.Info
	pending.Info = &info
	pending.Version = last.Version + 1
	pending.Info.Status = helmrelease.StatusPendingUpgrade
	pending.Info.LastDeployed = helmtime.Time{Time: time.Now().Add(-age)}
	if err := store.Create(&pending); err != nil {
		t.Fatal(err)
	}
}

// TestFaultGracefulShutdown: helm-service gets SIGTERM mid-run with a short
// grace period: it stops taking work, hands back what it did not finish,
// and exits; the next start answers everything, once.
func TestFaultGracefulShutdown(t *testing.T) {
	r := newRig(t, "ft-term", map[string]string{"SHUTDOWN_GRACE": "1s", "MAX_PARALLEL_TASKS": "2"})
	p := r.startService()
	services := r.services(6)
	for _, svc := range services {
		r.send(svc)
	}
	r.waitFinished(1, 2*time.Minute)
	stopped := time.Now()
	if _, err := p.stop(); err != nil {
		t.Fatalf("helm-service did not stop cleanly on SIGTERM: %v", err)
	}
	t.Logf("stopped in %s with %d of %d triggers answered", time.Since(stopped).Round(time.Millisecond), r.count().finished, len(r.sent))
	if r.count().finished == len(r.sent) {
		t.Log("every trigger was answered before the stop; nothing to hand back")
	}
	r.startService()
	r.settle(5*time.Minute, time.Now())
}
