package httpapi

import (
	"strings"

	"github.com/danielgtaylor/huma/v2"
)

// huma reports a missing required property at the object that lacks it
// ("body") with the name only in the message. Clients fixing a request want
// the field itself, so the location is extended with the property's name.
// huma exposes NewError as its one hook for this; it is set once, here.
func init() {
	base := huma.NewError
	huma.NewError = func(status int, msg string, errs ...error) huma.StatusError {
		for _, err := range errs {
			d, ok := err.(*huma.ErrorDetail)
			if !ok {
				continue
			}
			if name, ok := strings.CutPrefix(d.Message, "expected required property "); ok {
				if name, ok = strings.CutSuffix(name, " to be present"); ok {
					d.Location += "." + name
				}
			}
		}
		return base(status, msg, errs...)
	}
}
