package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

// natsCluster is three nats-server processes with JetStream, routed to
// each other on loopback: a JetStream cluster, on which helm-service keeps
// three copies of its stream and buckets by default.
type natsCluster struct {
	members []*natsProcess
	addrs   []string
	dirs    []string
}

func newNATSCluster(t *testing.T) *natsCluster {
	t.Helper()
	c := &natsCluster{}
	routePorts := make([]int, 3)
	for i := range routePorts {
		routePorts[i] = freePort(t)
	}
	var routes []string
	for _, p := range routePorts {
		routes = append(routes, fmt.Sprintf("nats://127.0.0.1:%d", p))
	}
	for i := range 3 {
		m := newNATSProcess(t)
		m.args = []string{"--name", fmt.Sprintf("n%d", i), "--cluster_name", "e2e",
			"--cluster", fmt.Sprintf("nats://127.0.0.1:%d", routePorts[i]), "--routes", strings.Join(routes, ",")}
		c.members = append(c.members, m)
	}
	return c
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start starts the members, the first on addr, each with a data dir of its
// own under dataDir.
func (c *natsCluster) start(addr, dataDir string) error {
	c.addrs = []string{addr}
	for range c.members[1:] {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return err
		}
		c.addrs = append(c.addrs, l.Addr().String())
		l.Close()
	}
	for i, m := range c.members {
		dir := filepath.Join(dataDir, m.args[1])
		c.dirs = append(c.dirs, dir)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return err
		}
		if err := m.start(c.addrs[i], dir); err != nil {
			return err
		}
	}
	return c.waitReady(context.Background())
}

func (c *natsCluster) shutdown() {
	for _, m := range c.members {
		m.shutdown()
	}
}

func (c *natsCluster) clientURLs() string {
	var urls []string
	for _, a := range c.addrs {
		urls = append(urls, "nats://"+a)
	}
	return strings.Join(urls, ",")
}

// waitReady waits until JetStream answers through every running member.
func (c *natsCluster) waitReady(ctx context.Context) error {
	deadline := time.Now().Add(time.Minute)
	for i, m := range c.members {
		if m.cmd == nil {
			continue
		}
		for {
			err := jetStreamAnswers(ctx, "nats://"+c.addrs[i])
			if err == nil {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("JetStream does not answer through %s within a minute: %w", c.addrs[i], err)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	return nil
}

func jetStreamAnswers(ctx context.Context, url string) error {
	nc, err := nats.Connect(url)
	if err != nil {
		return err
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	_, err = js.AccountInfo(ctx)
	return err
}

// streamLeader returns the index of the member leading the stream, once
// the stream has a leader and the given number of current replicas.
func (c *natsCluster) streamLeader(t *testing.T, url, stream string, current int) int {
	t.Helper()
	nc, err := nats.Connect(url, nats.MaxReconnects(-1))
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(time.Minute)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		s, err := js.Stream(ctx, stream)
		cancel()
		if err == nil {
			info := s.CachedInfo()
			if cl := info.Cluster; cl != nil && cl.Leader != "" {
				up := 1
				for _, p := range cl.Replicas {
					if p.Current && !p.Offline {
						up++
					}
				}
				if up >= current {
					for i, m := range c.members {
						if m.args[1] == cl.Leader {
							return i
						}
					}
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("stream %s has no leader with %d current replicas within a minute (%v)", stream, current, err)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestFaultNATSClusterLosesStreamLeader: two helm-service replicas on a
// three-server NATS cluster, default settings. Mid-burst, the server that
// leads helm-service's stream is killed with SIGKILL; once the stream has
// a new leader, more triggers are published while that server is still
// down; it is started again a few seconds later. Every trigger is
// answered once, and both replicas are still running.
func TestFaultNATSClusterLosesStreamLeader(t *testing.T) {
	cluster := newNATSCluster(t)
	r := newRigOn(t, "ft-ncl", nil, cluster)
	replicas := []*serviceProcess{r.startService(), r.startService()}
	services := r.services(12)
	for _, svc := range services {
		r.send(svc)
	}
	r.waitStarted(3, 2*time.Minute)
	leader := cluster.streamLeader(t, r.url(), "KEPTN", 3)
	if err := cluster.members[leader].stop(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	down := time.Now()
	t.Logf("killed n%d, the stream's leader, with %d of %d triggers answered", leader, r.count().finished, len(r.sent))
	cluster.streamLeader(t, r.url(), "KEPTN", 2)
	t.Logf("the stream has a new leader %s after the kill", time.Since(down).Round(10*time.Millisecond))
	for _, svc := range services[:6] {
		r.send(svc)
	}
	time.Sleep(3 * time.Second)
	if err := cluster.members[leader].start(cluster.addrs[leader], cluster.dirs[leader]); err != nil {
		t.Fatal(err)
	}
	r.settle(5*time.Minute, down)
	expectRunning(t, replicas)
}

// TestFaultNATSClusterRollingRestart: the same two replicas while every
// server of the cluster is restarted in turn (SIGTERM, start again, wait
// until the stream has three current replicas), with triggers published
// throughout.
func TestFaultNATSClusterRollingRestart(t *testing.T) {
	cluster := newNATSCluster(t)
	r := newRigOn(t, "ft-nroll", nil, cluster)
	replicas := []*serviceProcess{r.startService(), r.startService()}
	services := r.services(9)
	start := time.Now()
	for i, m := range cluster.members {
		for _, svc := range services[3*i : 3*i+3] {
			r.send(svc)
		}
		if err := m.stop(syscall.SIGTERM); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2 * time.Second)
		if err := m.start(cluster.addrs[i], cluster.dirs[i]); err != nil {
			t.Fatal(err)
		}
		cluster.streamLeader(t, r.url(), "KEPTN", 3)
		t.Logf("restarted n%d; %d of %d triggers answered", i, r.count().finished, len(r.sent))
	}
	r.settle(5*time.Minute, start)
	expectRunning(t, replicas)
}

// expectRunning fails the test for each process that has exited (a zombie
// nobody reaped yet counts as exited).
func expectRunning(t *testing.T, procs []*serviceProcess) {
	t.Helper()
	for i, p := range procs {
		stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", p.cmd.Process.Pid))
		if err != nil {
			t.Errorf("helm-service replica %d is gone: %v", i, err)
			continue
		}
		if _, state, _ := strings.Cut(string(stat), ") "); strings.HasPrefix(state, "Z") {
			t.Errorf("helm-service replica %d exited", i)
		}
	}
}
