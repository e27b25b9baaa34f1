package main

import (
	"encoding/json"
	"fmt"

	cloudevents "github.com/cloudevents/sdk-go/v2"
	"github.com/nats-io/nats.go"

	"github.com/helm-service/helm-service/pkg/config"
)

// sent is an event published on NATS, with the answers to it on their way
// in when an answer subject was given. Close ends both.
type sent struct {
	conn    *nats.Conn
	sub     *nats.Subscription
	answers chan *nats.Msg
}

// send connects to the NATS server at url with the service's bus settings,
// subscribes to answerSubject (none when empty) before it publishes e, so
// that no answer is missed, and waits until the server has the event.
func send(bus config.Bus, url string, e cloudevents.Event, answerSubject string) (*sent, error) {
	body, err := json.Marshal(e)
	if err != nil {
		return nil, fmt.Errorf("encode %s: %w", e.Type(), err)
	}
	conn, err := natsAuth(bus).Dial(url)
	if err != nil {
		return nil, fmt.Errorf("connect to NATS at %s (is helm-service running? set --nats or NATS_URL): %w", url, err)
	}
	s := &sent{conn: conn}
	if answerSubject != "" {
		s.answers = make(chan *nats.Msg, 64)
		if s.sub, err = conn.ChanSubscribe(answerSubject, s.answers); err != nil {
			s.Close()
			return nil, fmt.Errorf("subscribe to %s: %w", answerSubject, err)
		}
	}
	if err := conn.Publish(e.Type(), body); err != nil {
		s.Close()
		return nil, fmt.Errorf("publish %s: %w", e.Type(), err)
	}
	if err := conn.Flush(); err != nil {
		s.Close()
		return nil, fmt.Errorf("publish %s: %w", e.Type(), err)
	}
	return s, nil
}

// Close stops the answers and closes the connection.
func (s *sent) Close() {
	if s.sub != nil {
		_ = s.sub.Unsubscribe()
	}
	s.conn.Close()
}
