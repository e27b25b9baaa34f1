package answer

import (
	"context"

	cloudevents "github.com/cloudevents/sdk-go/v2"

	"github.com/helm-service/helm-service/pkg/ledger"
)

// noLedger records nothing: every trigger is new to it.
type noLedger struct{}

func (noLedger) Begin(context.Context, ledger.Key) (ledger.Entry, bool, error) {
	return ledger.Entry{}, false, nil
}
func (noLedger) Forget(context.Context, ledger.Key) error { return nil }
func (noLedger) Finished(context.Context, ledger.Key, cloudevents.Event) error {
	return nil
}

// ledgerOf is the ledger that keeps the trigger of key: none for a trigger
// without an id.
func (a *Answerer) ledgerOf(key ledger.Key) Ledger {
	if key.ID == "" {
		return noLedger{}
	}
	return a.ledger
}
