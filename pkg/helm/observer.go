package helm

import "time"

// Observer is told how long Helm actions take and which releases were
// recovered (for metrics). Its methods must be quick and safe for
// concurrent use; *metrics.Metrics implements it.
type Observer interface {
	// HelmAction reports the duration of an action: "install", "upgrade",
	// "rollback", "uninstall" or "wait" (a readiness wait within one of
	// the others).
	HelmAction(action string, d time.Duration)
	// ReleaseRecovered reports a release recovered from a pending state.
	ReleaseRecovered()
}

type noObserver struct{}

func (noObserver) HelmAction(string, time.Duration) {}
func (noObserver) ReleaseRecovered()                {}

// SetObserver makes the client report its actions to o.
func (c *Client) SetObserver(o Observer) {
	if o == nil {
		o = noObserver{}
	}
	c.observer = o
}

// timed starts timing an action; call the result when it ends.
func timed(o Observer, action string) func() {
	start := time.Now()
	return func() { o.HelmAction(action, time.Since(start)) }
}
