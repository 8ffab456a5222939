package memory

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// TestRelative: each phrase names its days relative to the message's own,
// said on Wednesday 10 May 2023.
func TestRelative(t *testing.T) {
	t.Parallel()
	said := time.Date(2023, 5, 10, 15, 30, 0, 0, time.UTC)
	d := func(m time.Month, day int) time.Time { return time.Date(2023, m, day, 0, 0, 0, 0, time.UTC) }
	for _, c := range []struct {
		text     string
		name     string
		from, to time.Time
	}{
		{"I went there yesterday", "2023-05-09", d(5, 9), d(5, 10)},
		{"watched it last night!", "2023-05-09", d(5, 9), d(5, 10)},
		{"anoche fuimos al cine", "2023-05-09", d(5, 9), d(5, 10)},
		{"see you tomorrow", "2023-05-11", d(5, 11), d(5, 12)},
		{"the day after tomorrow", "2023-05-12", d(5, 12), d(5, 13)},
		{"I printed it last Friday", "2023-05-05", d(5, 5), d(5, 6)},
		{"last Wednesday, a week ago", "2023-05-03", d(5, 3), d(5, 4)},
		{"el sábado pasado", "2023-05-06", d(5, 6), d(5, 7)},
		{"dyed my hair last week", "the week of 3 May 2023, 2023-W18", d(5, 1), d(5, 8)},
		{"last weekend we hiked", "weekend of 2023-05-06", d(5, 6), d(5, 8)},
		{"this weekend", "weekend of 2023-05-13", d(5, 13), d(5, 15)},
		{"next month", "June 2023", d(6, 1), d(7, 1)},
		{"el mes pasado", "April 2023", d(4, 1), d(5, 1)},
		{"last year", "2022", time.Date(2022, 1, 1, 0, 0, 0, 0, time.UTC), d(1, 1)},
	} {
		r, ok := relative(c.text, said)
		require.True(t, ok, c.text)
		require.Equal(t, c.name, r.name, c.text)
		require.Equal(t, [2]time.Time{c.from, c.to}, [2]time.Time{r.from, r.to}, c.text)
	}
	_, ok := relative("nothing of when", said)
	require.False(t, ok)
	_, ok = relative("yesterday", time.Time{})
	require.False(t, ok, "no date to count from")
	// On a Sunday, last weekend is the one before this one.
	r, _ := relative("last weekend", time.Date(2023, 5, 14, 9, 0, 0, 0, time.UTC))
	require.Equal(t, d(5, 6), r.from)
	// A month's end: the month after 31 January is February.
	r, _ = relative("next month", time.Date(2023, 1, 31, 9, 0, 0, 0, time.UTC))
	require.Equal(t, "February 2023", r.name)
}

func TestDateBoost(t *testing.T) {
	t.Parallel()
	at := func(m time.Month, day int) time.Time { return time.Date(2023, m, day, 18, 0, 0, 0, time.UTC) }
	day := recallQuery{year: 2023, month: time.May, day: 1}
	month := recallQuery{year: 2023, month: time.May}
	for _, c := range []struct {
		text       string
		said       time.Time
		onDay, inM float64
	}{
		{"We watched a film", at(5, 1), dayBoost, monthBoost},
		{"We watched a film", at(5, 2), 0, monthBoost},
		{"We watched a film last night", at(5, 2), dayBoost, monthBoost},
		{"We watched a film last week", at(5, 9), monthBoost, monthBoost}, // 1-7 May: it holds the day
		{"We watched a film last week", at(5, 4), 0, monthBoost},          // 24-30 April, said in May
		{"We watched a film last week", at(6, 6), 0, monthBoost},          // 29 May-4 June
		{"We watched a film yesterday", at(6, 1), 0, monthBoost},
		{"We watched a film", at(6, 1), 0, 0},
		{"We will watch a film tomorrow", at(4, 30), dayBoost, monthBoost},
	} {
		m := parley.Message{Text: c.text, CreatedAt: c.said}
		require.Equal(t, c.onDay, day.dateBoost(m), "%s, said %s, asked of the day", c.text, c.said)
		require.Equal(t, c.inM, month.dateBoost(m), "%s, said %s, asked of the month", c.text, c.said)
	}
	// "In May": May of the year the message was said in.
	may := recallQuery{year: anyYear, month: time.May}
	for _, c := range []struct {
		text string
		said time.Time
		inM  float64
	}{
		{"We watched a film", time.Date(2021, 5, 20, 9, 0, 0, 0, time.UTC), monthBoost},
		{"We watched a film", at(5, 31), monthBoost},
		{"We watched a film", at(6, 1), 0},
		{"We watched a film yesterday", at(6, 1), monthBoost},
		{"We watched a film", time.Date(2024, 4, 30, 9, 0, 0, 0, time.UTC), 0},
	} {
		require.Equal(t, c.inM, may.dateBoost(parley.Message{Text: c.text, CreatedAt: c.said}), "%s, said %s, asked of May", c.text, c.said)
	}
}
