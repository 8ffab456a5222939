package httpapi

import (
	"encoding/base64"
	"encoding/json"
	"reflect"

	"github.com/danielgtaylor/huma/v2"

	"github.com/parley-chat/parley"
)

// Cursors are opaque to clients: base64url of a small JSON document holding
// the keyset position. Clients must not build them; the format may change.

// historyCursor marks a position in a conversation's history. After pages
// forward from a sequence number, Before backward; Order is the order the
// page is shown in.
type historyCursor struct {
	Order  string `json:"o"`
	After  int64  `json:"a,omitempty"`
	Before int64  `json:"b,omitempty"`
}

// listCursor marks a position in a list ordered by id.
type listCursor struct {
	ID string `json:"i"`
}

func encodeCursor(v any) string {
	b, _ := json.Marshal(v) // cursors are plain structs of strings and numbers
	return base64.RawURLEncoding.EncodeToString(b)
}

// decodeCursor reads a cursor from the query parameter of that name.
func decodeCursor(s, param string, v any) error {
	if s == "" {
		return nil
	}
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		return huma.Error400BadRequest("invalid cursor", &huma.ErrorDetail{
			Message: "not a cursor this server issued", Location: "query." + param, Value: s})
	}
	return nil
}

var reflectTypeOfMedia = reflect.TypeOf(parley.Media{})
