package events

import "fmt"

// Strategy is a Keptn deployment strategy.
type Strategy string

// Strategies helm-service accepts.
const (
	StrategyDirect      Strategy = "direct"
	StrategyBlueGreen   Strategy = "blue_green_service"
	StrategyUserManaged Strategy = "user_managed"
	// strategyDuplicate is the older spelling of StrategyBlueGreen; it is
	// accepted on input and never emitted.
	strategyDuplicate = "duplicate"
)

// ParseStrategy reads a strategy string from a trigger. An empty string means
// direct, as in Keptn. The alias "duplicate" becomes StrategyBlueGreen.
func ParseStrategy(s string) (Strategy, error) {
	switch s {
	case "", string(StrategyDirect):
		return StrategyDirect, nil
	case string(StrategyBlueGreen), strategyDuplicate:
		return StrategyBlueGreen, nil
	case string(StrategyUserManaged):
		return StrategyUserManaged, nil
	}
	return "", fmt.Errorf("deployment.deploymentstrategy %q is not a known strategy: use one of direct, blue_green_service (alias duplicate), user_managed", s)
}
