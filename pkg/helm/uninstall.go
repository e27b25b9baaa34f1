package helm

import (
	"context"
	"errors"
	"fmt"
	"time"

	"helm.sh/helm/v3/pkg/action"
	"helm.sh/helm/v3/pkg/storage/driver"
)

// AllNamespaces passed to Find searches the releases of every namespace.
const AllNamespaces = ""

// Uninstall removes a release, its objects and its history, and waits up to
// timeout for the objects to be gone. The error wraps ErrNotFound when the
// release does not exist.
func (c *Client) Uninstall(ctx context.Context, namespace, name string, timeout time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	cfg, err := c.newConfig(ctx, namespace)
	if err != nil {
		return err
	}
	// Helm deletes what the newest record lists and runs its hooks.
	if last, err := cfg.Releases.Last(name); err == nil {
		if err := checkStored(cfg, last); err != nil {
			return fmt.Errorf("refused to uninstall release %s/%s: %w", namespace, name, err)
		}
	}
	un := action.NewUninstall(cfg)
	un.Wait = true
	un.Timeout = timeout
	un.DeletionPropagation = "background"
	defer timed(c.observer, "uninstall")()
	defer phasesOf(ctx).end(false)
	if _, err := un.Run(name); err != nil {
		if errors.Is(err, driver.ErrReleaseNotFound) {
			return fmt.Errorf("uninstall release %s/%s: %w", namespace, name, ErrNotFound)
		}
		return fmt.Errorf("uninstall release %s/%s: %w", namespace, name, err)
	}
	return nil
}
