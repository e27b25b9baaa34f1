package kvretry

import (
	"context"
	"errors"
	"net"
	"testing"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nats.go"
	"github.com/nats-io/nats.go/jetstream"
)

func startServer(t *testing.T, port int, dir string) *server.Server {
	t.Helper()
	s, err := server.NewServer(&server.Options{Host: "127.0.0.1", Port: port, JetStream: true, StoreDir: dir, NoLog: true, NoSigs: true})
	if err != nil {
		t.Fatal(err)
	}
	go s.Start()
	if !s.ReadyForConnections(10 * time.Second) {
		t.Fatal("NATS server not ready")
	}
	return s
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

// A write made while the server is away is tried again and lands once it
// is back; without the retries it fails at once.
func TestWriteLandsAfterTheServerComesBack(t *testing.T) {
	port, dir := freePort(t), t.TempDir()
	srv := startServer(t, port, dir)
	nc, err := nats.Connect(srv.ClientURL(), nats.MaxReconnects(-1), nats.ReconnectWait(50*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, err := jetstream.New(nc)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b", Storage: jetstream.FileStorage})
	if err != nil {
		t.Fatal(err)
	}
	srv.Shutdown()
	srv.WaitForShutdown()

	plain := New(kv, WithBudget(0))
	if _, err := plain.Put(ctx, "k", []byte("v")); err == nil || !Passing(err) {
		t.Fatalf("put while the server is away, without retries: %v, want an error that passes", err)
	}
	restarted := make(chan *server.Server)
	go func() {
		time.Sleep(time.Second)
		restarted <- startServer(t, port, dir)
	}()
	if _, err := New(kv, WithAttemptTimeout(500*time.Millisecond)).Put(ctx, "k", []byte("v")); err != nil {
		t.Fatalf("put while the server comes back: %v", err)
	}
	t.Cleanup((<-restarted).Shutdown)
	e, err := kv.Get(ctx, "k")
	if err != nil || string(e.Value()) != "v" {
		t.Fatalf("entry after the retried put: %v, %v", e, err)
	}
}

// What a failure says about the key is answered at once, not tried again.
func TestKeyErrorsAreNotRetried(t *testing.T) {
	srv := startServer(t, -1, t.TempDir())
	t.Cleanup(srv.Shutdown)
	nc, err := nats.Connect(srv.ClientURL())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(nc.Close)
	js, _ := jetstream.New(nc)
	ctx := context.Background()
	kv, err := js.CreateKeyValue(ctx, jetstream.KeyValueConfig{Bucket: "b"})
	if err != nil {
		t.Fatal(err)
	}
	b := New(kv)
	start := time.Now()
	if _, err := b.Get(ctx, "missing"); !errors.Is(err, jetstream.ErrKeyNotFound) {
		t.Errorf("get of a missing key: %v", err)
	}
	if _, err := b.Create(ctx, "k", []byte("1")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Create(ctx, "k", []byte("2")); !errors.Is(err, jetstream.ErrKeyExists) {
		t.Errorf("second create: %v, want ErrKeyExists", err)
	}
	if _, err := b.Update(ctx, "k", []byte("3"), 99); err == nil || Passing(err) {
		t.Errorf("update at a wrong revision: %v, want an error that does not pass", err)
	}
	if took := time.Since(start); took > 2*time.Second {
		t.Errorf("key errors took %s: they were tried again", took)
	}
}
