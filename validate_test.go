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

// FuzzValidID: an accepted id is of the alphabet and safe in a path.
func FuzzValidID(f *testing.F) {
	for _, s := range []string{"bot-456", "../x", "a/b", "..", "\ufffd\ufffd", "+34600", "@a:b.org", ".x", "a..b", "a\x00"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, id string) {
		if parley.ValidID(id, "f") != nil {
			return
		}
		require.NotEmpty(t, id)
		require.LessOrEqual(t, len(id), parley.MaxIDLen)
		require.NotContains(t, id, "/")
		require.NotContains(t, id, "..")
		require.False(t, strings.HasPrefix(id, "."))
		for _, r := range id {
			require.True(t, r < 128 && r > 32, "%q", id)
		}
	})
}

func TestNewMessageComplete(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name    string
		in      parley.NewMessage
		field   string // of the error; "" when complete
		text    string
		bubbles []string
	}{
		{name: "text becomes the bubble", in: parley.NewMessage{Text: "hi"}, text: "hi", bubbles: []string{"hi"}},
		{name: "bubbles become the text", in: parley.NewMessage{Bubbles: []string{"a", "b"}}, text: "a\nb", bubbles: []string{"a", "b"}},
		{name: "media alone", in: parley.NewMessage{AttachedMedia: []parley.Media{{ContentID: "c-1"}}}, bubbles: nil},
		{name: "nothing", in: parley.NewMessage{Text: "  "}, field: "m.text"},
		{name: "empty attachment", in: parley.NewMessage{Text: "x", AttachedMedia: []parley.Media{{}}}, field: "m.attached_media[0]"},
		{name: "bad media url", in: parley.NewMessage{Text: "x", AttachedMedia: []parley.Media{{URL: "file:///etc/passwd"}}},
			field: "m.attached_media[0].url"},
		{name: "text in bytes", in: parley.NewMessage{Text: strings.Repeat("€", 11000)}, field: "m.text"},
		{name: "bubble in bytes", in: parley.NewMessage{Bubbles: []string{strings.Repeat("😀", 8001)}}, field: "m.bubbles[0]"},
		{name: "bubbles together", in: parley.NewMessage{Bubbles: []string{strings.Repeat("a", 20000), strings.Repeat("b", 20000)}},
			field: "m.bubbles"},
		{name: "metadata not an object", in: parley.NewMessage{Text: "x", Metadata: []byte(`[1]`)}, field: "m.metadata"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.in
			err := m.Complete("m")
			if tc.field != "" {
				require.Error(t, err)
				require.Equal(t, tc.field, err.(*parley.Error).Field)
				return
			}
			require.NoError(t, err)
			require.Equal(t, tc.text, m.Text)
			require.Equal(t, tc.bubbles, m.Bubbles)
		})
	}
	m := parley.NewMessage{Text: "x", Metadata: []byte("null")}
	require.NoError(t, m.Complete("m"))
	require.Nil(t, m.Metadata, "null metadata is none")
}

func TestStem(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{"walking": "walk", "walks": "walk", "walked": "walk", "stories": "story",
		"paints": "paint", "class": "class", "glass": "glass", "dogs": "dog", "news": "new", "quickly": "quick",
		"perros": "perro", "ciudades": "ciudad", "is": "is", "sing": "sing", "running": "runn"} {
		require.Equal(t, want, parley.Stem(in), in)
	}
}
