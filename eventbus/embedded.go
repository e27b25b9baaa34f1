// Package eventbus carries CloudEvents over NATS: it connects to a NATS
// server or starts one in process, delivers the events helm-service
// subscribes to, and publishes the events it sends.
package eventbus

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"github.com/nats-io/nats-server/v2/server"
	"github.com/nats-io/nkeys"
)

// EmbeddedOptions configure a NATS server started in process.
type EmbeddedOptions struct {
	// Listen is host:port; port 0 picks a free one.
	Listen string
	// DataDir holds JetStream data; empty uses a directory under os.TempDir.
	DataDir string
	// Auth, when it holds a user and password, a token or an NKey seed
	// file, is what the server asks every client for. A server that
	// listens beyond the loopback interface must have one.
	Auth Auth
	// MaxStore bounds the bytes JetStream keeps on disk (default 2 GiB);
	// its memory storage is bounded to 256 MiB.
	MaxStore int64
}

// Defaults of the embedded server's JetStream.
const (
	defaultEmbeddedMaxStore = 2 << 30
	embeddedMaxMemory       = 256 << 20
)

// StartEmbedded starts a NATS server with JetStream in this process and
// waits until it accepts connections. Shut it down with Shutdown.
func StartEmbedded(opts EmbeddedOptions) (*server.Server, error) {
	host, portText, err := net.SplitHostPort(opts.Listen)
	if err != nil {
		return nil, fmt.Errorf("NATS_LISTEN %q is not host:port: %w", opts.Listen, err)
	}
	port, err := strconv.Atoi(portText)
	if err != nil {
		return nil, fmt.Errorf("NATS_LISTEN %q has no numeric port: %w", opts.Listen, err)
	}
	if port == 0 {
		port = server.RANDOM_PORT
	}
	dir := opts.DataDir
	if dir == "" {
		dir = filepath.Join(os.TempDir(), "helm-service-nats")
	}
	if err := privateDir(dir); err != nil {
		return nil, err
	}
	maxStore := opts.MaxStore
	if maxStore <= 0 {
		maxStore = defaultEmbeddedMaxStore
	}
	serverOpts := &server.Options{
		ServerName:         "helm-service-embedded",
		Host:               host,
		Port:               port,
		JetStream:          true,
		StoreDir:           dir,
		JetStreamMaxStore:  maxStore,
		JetStreamMaxMemory: embeddedMaxMemory,
		NoSigs:             true,
	}
	if err := opts.protect(serverOpts); err != nil {
		return nil, err
	}
	ns, err := server.NewServer(serverOpts)
	if err != nil {
		return nil, fmt.Errorf("configure embedded NATS server: %w", err)
	}
	go ns.Start()
	if !ns.ReadyForConnections(10 * time.Second) {
		ns.Shutdown()
		return nil, fmt.Errorf("embedded NATS server did not start listening on %s within 10s (is the port in use? set NATS_LISTEN)", opts.Listen)
	}
	return ns, nil
}

// privateDir makes dir, the embedded server's data directory, readable by
// this user only: it holds every event, the ledger's answers and the
// leases. A directory there already must be a real directory of this
// user's (not a link another user of a shared /tmp planted).
func privateDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return fmt.Errorf("NATS_DATA_DIR %s: %w", dir, err)
	}
	info, err := os.Lstat(dir)
	if err != nil {
		return fmt.Errorf("NATS_DATA_DIR %s: %w", dir, err)
	}
	if !info.IsDir() {
		return fmt.Errorf("NATS_DATA_DIR %s is not a directory (a symbolic link?): point NATS_DATA_DIR at a directory of helm-service's own", dir)
	}
	if st, ok := info.Sys().(*syscall.Stat_t); ok && int(st.Uid) != os.Getuid() {
		return fmt.Errorf("NATS_DATA_DIR %s belongs to user %d, not to helm-service's user %d: point NATS_DATA_DIR at a directory of its own", dir, st.Uid, os.Getuid())
	}
	if info.Mode().Perm()&0o077 != 0 {
		if err := os.Chmod(dir, 0o700); err != nil {
			return fmt.Errorf("NATS_DATA_DIR %s: make it private: %w", dir, err)
		}
	}
	return nil
}

// protect makes the server ask clients for the credentials in Auth, and
// refuses to listen beyond the loopback interface without any.
func (o EmbeddedOptions) protect(so *server.Options) error {
	a := o.Auth
	if err := a.Validate(); err != nil {
		return err
	}
	switch {
	case a.TLSCAFile != "" || a.TLSCertFile != "":
		return errors.New("NATS_TLS_CA, NATS_TLS_CERT and NATS_TLS_KEY secure the connection to an external NATS server (NATS_URL); the embedded server does not serve TLS")
	case a.CredsFile != "":
		return errors.New("NATS_CREDS_FILE needs an external NATS server with an operator (NATS_URL); the embedded server takes NATS_USER/NATS_PASSWORD, NATS_TOKEN or NATS_NKEY_FILE")
	case a.User != "":
		so.Username, so.Password = a.User, a.Password
	case a.Token != "":
		so.Authorization = a.Token
	case a.NKeyFile != "":
		seed, err := os.ReadFile(a.NKeyFile)
		if err != nil {
			return fmt.Errorf("NATS_NKEY_FILE: %w", err)
		}
		kp, err := nkeys.ParseDecoratedNKey(seed)
		if err != nil {
			return fmt.Errorf("NATS_NKEY_FILE %s: %w", a.NKeyFile, err)
		}
		public, err := kp.PublicKey()
		if err != nil {
			return fmt.Errorf("NATS_NKEY_FILE %s: %w", a.NKeyFile, err)
		}
		so.Nkeys = []*server.NkeyUser{{Nkey: public}}
	case !isLoopback(so.Host):
		return fmt.Errorf("NATS_LISTEN %q lets other hosts reach the embedded NATS server, which then needs credentials: set NATS_TOKEN (or NATS_USER and NATS_PASSWORD, or NATS_NKEY_FILE), or listen on 127.0.0.1", o.Listen)
	}
	return nil
}

// isLoopback reports whether host names only this machine.
func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
