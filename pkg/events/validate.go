package events

import (
	"errors"
	"fmt"
	"strings"

	"k8s.io/apimachinery/pkg/util/validation"
)

// ValidateTarget checks that project, stage and service are present and are
// names Kubernetes accepts (DNS-1123 labels). The error names every field
// that is wrong and why.
func (c Common) ValidateTarget() error {
	var errs []error
	for _, f := range []struct{ name, value string }{
		{"project", c.Project},
		{"stage", c.Stage},
		{"service", c.Service},
	} {
		if err := validateName(f.name, f.value); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ValidateService checks project and service as ValidateTarget does, for
// events about a service in every stage (they carry no stage).
func (c Common) ValidateService() error {
	return errors.Join(validateName("project", c.Project), validateName("service", c.Service))
}

func validateName(field, value string) error {
	if value == "" {
		return fmt.Errorf("%s is missing", field)
	}
	if problems := validation.IsDNS1123Label(value); len(problems) > 0 {
		return fmt.Errorf("%s %q is not a valid Kubernetes name: %s", field, value, strings.Join(problems, "; "))
	}
	return nil
}
