package parley_test

import (
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

func TestChainDigest(t *testing.T) {
	type item struct {
		fromBot bool
		bubbles []string
		text    string
	}
	digest := func(items ...item) []byte {
		d := parley.ChainStart
		for _, it := range items {
			d = parley.ChainDigest(d, it.fromBot, parley.Canonical(it.bubbles, it.text))
		}
		return d
	}
	for _, tc := range []struct {
		name  string
		a, b  []item
		equal bool
	}{
		{"white space and empty bubbles do not count", []item{{false, []string{" hi ", ""}, ""}}, []item{{false, []string{"hi"}, ""}}, true},
		{"text stands in for missing bubbles", []item{{true, nil, " hello "}}, []item{{true, []string{"hello"}, ""}}, true},
		{"the side counts", []item{{true, []string{"hi"}, ""}}, []item{{false, []string{"hi"}, ""}}, false},
		{"bubble boundaries count", []item{{false, []string{"ab"}, ""}}, []item{{false, []string{"a", "b"}, ""}}, false},
		{"order counts", []item{{false, []string{"a"}, ""}, {false, []string{"b"}, ""}}, []item{{false, []string{"b"}, ""}, {false, []string{"a"}, ""}}, false},
		{"an empty message still counts", []item{{false, []string{"a"}, ""}, {false, nil, ""}}, []item{{false, []string{"a"}, ""}}, false},
		{"content does not leak across messages", []item{{false, []string{"a", "b"}, ""}}, []item{{false, []string{"a"}, ""}, {false, []string{"b"}, ""}}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.equal {
				require.Equal(t, digest(tc.a...), digest(tc.b...))
			} else {
				require.NotEqual(t, digest(tc.a...), digest(tc.b...))
			}
		})
	}
	require.Nil(t, parley.ChainDigest(nil, false, []string{"x"}), "an unknown chain stays unknown")
	require.Len(t, digest(item{false, []string{"x"}, ""}), 32)
}
