package config

import (
	"fmt"
	"net"
	"time"
)

// Server is the process's own listeners and its shutdown.
type Server struct {
	// HTTPAddr serves /healthz, /readyz and /metrics.
	HTTPAddr string `envconfig:"HTTP_ADDR" default:":8080"`
	// DebugAddr, when set, serves Go's pprof profiles under /debug/pprof/
	// on a listener of its own; empty turns it off.
	DebugAddr string `envconfig:"DEBUG_ADDR" default:""`
	// ShutdownGrace bounds how long in-flight tasks may run after SIGTERM.
	ShutdownGrace time.Duration `envconfig:"SHUTDOWN_GRACE" default:"30s"`
}

// PublishTimeout bounds the publishing of one answer: the shutdown grace
// and a minute more, so that a task finished within the grace is still
// answered.
func (s Server) PublishTimeout() time.Duration { return s.ShutdownGrace + time.Minute }

func (s Server) validate() error {
	if s.DebugAddr != "" && s.DebugAddr == s.HTTPAddr {
		return fmt.Errorf("DEBUG_ADDR must differ from HTTP_ADDR (%s): profiles are never served on the public port", s.HTTPAddr)
	}
	if s.DebugAddr != "" && !onLoopback(s.DebugAddr) {
		return fmt.Errorf("DEBUG_ADDR %q listens beyond loopback: profiles show the process's memory, so they are served on loopback only (e.g. 127.0.0.1:6060); reach them with kubectl port-forward", s.DebugAddr)
	}
	return nil
}

// onLoopback reports whether a host:port address listens on loopback only.
func onLoopback(addr string) bool {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// Observability is logs, traces and CDEvents.
type Observability struct {
	// LogLevel is debug, info, warn or error.
	LogLevel LogLevel `envconfig:"LOG_LEVEL" default:"info"`
	// LogFormat is json or text.
	LogFormat string `envconfig:"LOG_FORMAT" default:"json"`
	// TracingEnabled exports OpenTelemetry spans over OTLP/gRPC to the
	// endpoint of the standard OTEL_EXPORTER_OTLP_ENDPOINT or
	// OTEL_EXPORTER_OTLP_TRACES_ENDPOINT variables.
	TracingEnabled bool `envconfig:"TRACING_ENABLED" default:"false"`
	// CDEventsEnabled also publishes a CDEvent for each deployment,
	// upgrade, rollback and removal of a service.
	CDEventsEnabled bool `envconfig:"CDEVENTS_ENABLED" default:"false"`
	// CDEventsSubjectPrefix starts the NATS subject of every CDEvent,
	// followed by its subject and predicate (dev.cdevents.service.deployed).
	CDEventsSubjectPrefix string `envconfig:"CDEVENTS_SUBJECT_PREFIX" default:"dev.cdevents"`
}

func (o Observability) validate() error {
	if o.LogFormat != "json" && o.LogFormat != "text" {
		return fmt.Errorf("LOG_FORMAT must be json or text, got %q", o.LogFormat)
	}
	return nil
}
