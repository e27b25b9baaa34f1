package answer

import (
	"sync/atomic"

	"github.com/helm-service/helm-service/pkg/ledger"
)

// inflight is a trigger this process is working on.
type inflight struct {
	done     chan struct{}
	answered atomic.Bool // set before done is closed
}

// claim registers the trigger as handled here. When it already is, it
// returns the first delivery's record instead. A trigger without an id is
// never told apart from another.
func (a *Answerer) claim(key ledger.Key) (own, prev *inflight) {
	own = &inflight{done: make(chan struct{})}
	if key.ID == "" {
		return own, nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if p, ok := a.running[key]; ok {
		return nil, p
	}
	a.running[key] = own
	return own, nil
}

func (a *Answerer) unclaim(key ledger.Key, own *inflight) {
	if key.ID != "" {
		a.mu.Lock()
		delete(a.running, key)
		a.mu.Unlock()
	}
	close(own.done)
}

// InFlight returns how many triggers are being answered now.
func (a *Answerer) InFlight() int {
	a.mu.Lock()
	defer a.mu.Unlock()
	return len(a.running)
}
