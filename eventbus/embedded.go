// Package eventbus carries CloudEvents over NATS: it connects to a NATS
// server or starts one in process, delivers the events helm-service
// subscribes to, and publishes the events it sends.
package eventbus

import (
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/nats-io/nats-server/v2/server"
)

// EmbeddedOptions configure a NATS server started in process.
type EmbeddedOptions struct {
	// Listen is host:port; port 0 picks a free one.
	Listen string
	// DataDir holds JetStream data; empty uses a directory under os.TempDir.
	DataDir string
}

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
	ns, err := server.NewServer(&server.Options{
		ServerName: "helm-service-embedded",
		Host:       host,
		Port:       port,
		JetStream:  true,
		StoreDir:   dir,
		NoSigs:     true,
	})
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
