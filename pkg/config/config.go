// Package config holds helm-service's configuration, read from the
// environment once: Load reads every variable, parses it into the type its
// users need, fills in the defaults that depend on others and checks the
// result. Settings are grouped per subsystem; README.md lists every
// variable.
package config

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/kelseyhightower/envconfig"

	"github.com/helm-service/helm-service/pkg/allowlist"
	"github.com/helm-service/helm-service/pkg/kube"
)

// Config is every setting of helm-service, one group per subsystem. Each
// field of a group is read from the environment variable named in its
// envconfig tag, without a prefix of the group's.
type Config struct {
	Bus           Bus
	Delivery      Delivery
	Retry         Retry
	Namespaces    Namespaces
	Cluster       Cluster
	Charts        Charts
	Deploy        Deploy
	Traffic       Traffic
	Removal       Removal
	Server        Server
	Observability Observability
}

// rolloutEnv is what ROLLOUT_STRATEGY, ROLLOUT_MAX_SURGE and
// ROLLOUT_MAX_UNAVAILABLE say; Load parses the three together into
// Deploy.Rollout.
type rolloutEnv struct {
	Strategy       string `envconfig:"ROLLOUT_STRATEGY"`
	MaxSurge       string `envconfig:"ROLLOUT_MAX_SURGE"`
	MaxUnavailable string `envconfig:"ROLLOUT_MAX_UNAVAILABLE"`
}

// sources are the structs envconfig fills, each without a prefix: a
// group's fields are named by their own tags only. (envconfig would
// prefix the fields of a nested struct with its name, and read the
// prefixed name first.)
func (c *Config) sources(rollout *rolloutEnv) []any {
	return []any{&c.Bus, &c.Delivery, &c.Retry, &c.Namespaces, &c.Cluster, &c.Charts,
		&c.Deploy, &c.Traffic, &c.Removal, &c.Server, &c.Observability, rollout}
}

// Load reads the configuration from the environment, parses and defaults
// it, and checks it.
func Load() (Config, error) {
	var c Config
	var rollout rolloutEnv
	for _, s := range c.sources(&rollout) {
		if err := envconfig.Process("", s); err != nil {
			return Config{}, explain(err)
		}
	}
	if err := c.resolve(rollout); err != nil {
		return Config{}, err
	}
	if err := c.Validate(); err != nil {
		return Config{}, err
	}
	return c, nil
}

// LoadBus reads and checks the Bus group alone, for the commands that only
// talk to NATS (trigger, watch): the rest of the service's configuration
// is none of their business.
func LoadBus() (Bus, error) {
	var b Bus
	if err := envconfig.Process("", &b); err != nil {
		return Bus{}, explain(err)
	}
	if err := b.validate(); err != nil {
		return Bus{}, err
	}
	return b, nil
}

// TrafficRouterOr is TRAFFIC_ROUTER when it is set, else fallback: a
// command that reads blue/green traffic (status) follows the service's
// router when one is configured and has a default of its own otherwise.
func TrafficRouterOr(fallback string) string {
	if v := os.Getenv("TRAFFIC_ROUTER"); v != "" {
		return v
	}
	return fallback
}

// resolve fills in the settings whose default depends on the machine or
// on another setting, and parses the ones read from several variables.
func (c *Config) resolve(rollout rolloutEnv) error {
	if c.Delivery.MaxParallelTasks == 0 {
		c.Delivery.MaxParallelTasks = DefaultParallelTasks()
	}
	if c.Delivery.MaxQueuedTasks == 0 {
		c.Delivery.MaxQueuedTasks = DefaultQueuedTasks(c.Delivery.MaxParallelTasks)
	}
	if c.Namespaces.Own == "" {
		if b, err := os.ReadFile(serviceAccountNamespace); err == nil {
			c.Namespaces.Own = strings.TrimSpace(string(b))
		}
	}
	if c.Namespaces.Allowed.Text == "" {
		if err := c.Namespaces.Allowed.Decode(allowlist.Default(c.Namespaces.Own)); err != nil {
			return err
		}
	}
	r, err := kube.ParseRollout(rollout.Strategy, rollout.MaxSurge, rollout.MaxUnavailable,
		kube.RolloutFields{Type: "ROLLOUT_STRATEGY", MaxSurge: "ROLLOUT_MAX_SURGE", MaxUnavailable: "ROLLOUT_MAX_UNAVAILABLE"})
	if err != nil {
		return err
	}
	c.Deploy.Rollout = r
	return nil
}

// serviceAccountNamespace holds the pod's namespace inside a cluster.
const serviceAccountNamespace = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"

// Validate reports settings that cannot work, group by group. Values
// parsed by Load (CHART_REF_ALLOWED, NAMESPACE_LABELS, NAMESPACE_TEMPLATE,
// ALLOWED_NAMESPACES, the rollout, LOG_LEVEL) were checked as they were
// parsed.
func (c Config) Validate() error {
	return errors.Join(
		c.Delivery.validate(),
		c.Deploy.validate(),
		c.Cluster.validate(),
		c.Bus.validate(),
		c.Charts.validate(),
		c.Retry.validate(),
		c.Traffic.validate(),
		c.Server.validate(),
		c.Observability.validate(),
	)
}

// explain turns envconfig's report of a value it cannot read into one that
// names the variable and says what to write instead.
func explain(err error) error {
	var pe *envconfig.ParseError
	if !errors.As(err, &pe) {
		return fmt.Errorf("read configuration from environment: %w", err)
	}
	var want, example string
	switch pe.TypeName {
	case "time.Duration":
		want, example = "a duration", "write it like 90s, 5m or 1h30m"
	case "bool":
		want, example = "true or false", "write true or false"
	case "int", "int32", "int64":
		want, example = "a whole number", "write digits only, e.g. 100"
	case "float32", "float64":
		want, example = "a number", "write it like 50 or 12.5"
	default:
		// The values parsed into helm-service's own types say what is
		// wrong themselves, naming their variable.
		return pe.Err
	}
	return fmt.Errorf("%s=%q is not %s: %s, or unset it for the default (%w)", pe.KeyName, pe.Value, want, example, pe.Err)
}
