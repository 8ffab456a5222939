package parley_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestValidID(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		id string
		ok bool
	}{
		{"bot-456", true}, {"user_789", true}, {"+34600111222", true}, {"@ana:matrix.org", true},
		{"U024BE7LH", true}, {"a.b", true}, {"x=", true}, {strings.Repeat("a", parley.MaxIDLen), true},
		{"", false}, {strings.Repeat("a", parley.MaxIDLen+1), false}, {"a/b", false}, {"../x", false},
		{"..", false}, {".hidden", false}, {"a..b", false}, {"a b", false}, {" a", false}, {"a\\b", false},
		{"\ufffd\ufffd", false}, {"ñ", false}, {"a\x00", false}, {"a?b", false}, {"a#b", false}, {"a%2f", false},
	} {
		err := parley.ValidID(tc.id, "body.id")
		require.Equal(t, tc.ok, err == nil, "%q: %v", tc.id, err)
		if err != nil {
			require.Equal(t, "body.id", err.(*parley.Error).Field)
		}
	}
}

func TestValidText(t *testing.T) {
	t.Parallel()
	require.NoError(t, parley.ValidText(strings.Repeat("a", parley.MaxTextLen), "f"))
	require.Error(t, parley.ValidText(strings.Repeat("a", parley.MaxTextLen+1), "f"))
	require.Error(t, parley.ValidText(strings.Repeat("€", 11000), "f"), "33,000 bytes in 11,000 characters")
	require.Error(t, parley.ValidText("a\xffb", "f"))
	require.NoError(t, parley.ValidText("", "f"))
}
