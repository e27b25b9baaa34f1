package config

import (
	"fmt"
	"time"
)

// Bus is the NATS connection, the JetStream stream and consumer events
// come from, the embedded server, and helm-service's identity on the bus.
type Bus struct {
	// URL is the NATS server to connect to. Empty starts an embedded
	// server instead.
	URL string `envconfig:"NATS_URL"`
	// Listen is where the embedded NATS server listens.
	Listen string `envconfig:"NATS_LISTEN" default:"127.0.0.1:4222"`
	// DataDir is where the embedded NATS server keeps JetStream data.
	// Empty means a directory under the system's temporary directory.
	DataDir string `envconfig:"NATS_DATA_DIR"`
	// EmbeddedMaxStore bounds the embedded server's JetStream storage.
	EmbeddedMaxStore int64 `envconfig:"NATS_EMBEDDED_MAX_STORE" default:"2147483648"`
	// QueueGroup is the NATS queue group (core mode) or durable JetStream
	// consumer (jetstream mode) that replicas share work in.
	QueueGroup string `envconfig:"NATS_QUEUE_GROUP" default:"helm-service"`
	// Mode is jetstream (at least once) or core (at most once).
	Mode string `envconfig:"NATS_MODE" default:"jetstream"`
	// Stream is the JetStream stream over sh.keptn.event.>.
	Stream string `envconfig:"NATS_STREAM" default:"KEPTN"`
	// StreamMaxBytes bounds the stream helm-service creates.
	StreamMaxBytes int64 `envconfig:"NATS_STREAM_MAX_BYTES" default:"1073741824"`
	// StreamMaxAge bounds how long the stream keeps an unacknowledged event.
	StreamMaxAge time.Duration `envconfig:"NATS_STREAM_MAX_AGE" default:"24h"`
	// AckWait is how long JetStream waits for a sign of life from a task
	// before it delivers the trigger again.
	AckWait time.Duration `envconfig:"NATS_ACK_WAIT" default:"30s"`
	// Replicas is how many copies of its stream and key-value buckets
	// JetStream keeps; 0 means 3 on a NATS cluster of at least three
	// servers, else 1.
	Replicas int `envconfig:"NATS_REPLICAS" default:"0"`
	// MaxDeliver bounds the deliveries of one trigger; the last one is
	// answered errored without running the task.
	MaxDeliver int `envconfig:"NATS_MAX_DELIVER" default:"5"`
	// MaxEventBytes refuses larger events.
	MaxEventBytes int `envconfig:"MAX_EVENT_BYTES" default:"1048576"`
	// Source is the CloudEvents source of every event helm-service sends;
	// events from this source are ignored.
	Source string `envconfig:"EVENT_SOURCE" default:"helm-service"`

	// NATS credentials: at most one of user/password, token, creds file
	// and NKey seed file; TLS with any.
	User      string `envconfig:"NATS_USER"`
	Password  string `envconfig:"NATS_PASSWORD"`
	Token     string `envconfig:"NATS_TOKEN"`
	CredsFile string `envconfig:"NATS_CREDS_FILE"`
	NKeyFile  string `envconfig:"NATS_NKEY_FILE"`
	TLSCA     string `envconfig:"NATS_TLS_CA"`
	TLSCert   string `envconfig:"NATS_TLS_CERT"`
	TLSKey    string `envconfig:"NATS_TLS_KEY"`
}

// Heartbeat is how often a running task tells JetStream it is alive: a
// third of AckWait, so that two signs of life may be lost in a row.
func (b Bus) Heartbeat() time.Duration { return b.AckWait / 3 }

func (b Bus) validate() error {
	if b.Mode != "jetstream" && b.Mode != "core" {
		return fmt.Errorf("NATS_MODE must be jetstream or core, got %q", b.Mode)
	}
	if b.AckWait < time.Second {
		return fmt.Errorf("NATS_ACK_WAIT must be at least 1s, got %s", b.AckWait)
	}
	if b.StreamMaxBytes < 1<<20 {
		return fmt.Errorf("NATS_STREAM_MAX_BYTES must be at least 1 MiB (1048576), got %d", b.StreamMaxBytes)
	}
	if b.EmbeddedMaxStore < b.StreamMaxBytes {
		return fmt.Errorf("NATS_EMBEDDED_MAX_STORE (%d) must hold at least the stream, NATS_STREAM_MAX_BYTES (%d)", b.EmbeddedMaxStore, b.StreamMaxBytes)
	}
	if b.Replicas < 0 || b.Replicas > 5 {
		return fmt.Errorf("NATS_REPLICAS must be 0 (3 on a NATS cluster of three or more servers, else 1) or 1 to 5, JetStream's limit, got %d", b.Replicas)
	}
	if b.MaxDeliver < 2 {
		return fmt.Errorf("NATS_MAX_DELIVER must be at least 2, got %d", b.MaxDeliver)
	}
	if b.MaxEventBytes < 1024 {
		return fmt.Errorf("MAX_EVENT_BYTES must be at least 1024, got %d", b.MaxEventBytes)
	}
	if b.Source == "" {
		return fmt.Errorf("EVENT_SOURCE must not be empty")
	}
	return nil
}
