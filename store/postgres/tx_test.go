package postgres

import (
	"context"
	"testing"

	"github.com/jackc/pgx/v5"
	"github.com/stretchr/testify/require"

	"github.com/parley-chat/parley"
)

// TestCommitWithQuery: a transaction told to commit with its River job
// insert sends the COMMIT with that statement: once its rows are read the
// transaction is over, committed, and a COMMIT that fails (here a deferred
// constraint's check) or a statement that fails is the rows' error and
// Commit's, with nothing of the transaction kept. Another query runs in
// the transaction as usual.
func TestCommitWithQuery(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db := openDB(t)
	_, err := db.pool.Exec(ctx, `CREATE TABLE committed (n int);
		CREATE FUNCTION refuse_negative() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN IF NEW.n < 0 THEN RAISE EXCEPTION 'refused at commit'; END IF; RETURN NULL; END $$;
		CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON committed DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW EXECUTE FUNCTION refuse_negative();`)
	require.NoError(t, err)
	stored := func(n int) bool {
		var found bool
		require.NoError(t, db.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM committed WHERE n = $1)`, n).Scan(&found))
		return found
	}
	const insert = "SELECT $1::int AS n -- name: JobInsertFastMany (as River names its job insert)"
	// run inserts n, then sends query as the transaction's last statement
	// and reads its rows.
	run := func(n int, query string) (tx *batchTx, status byte, rowsErr, commitErr error) {
		c, err := db.pool.Acquire(ctx)
		require.NoError(t, err)
		defer c.Release()
		tx = &batchTx{conn: c.Conn()}
		_, err = tx.Exec(ctx, `INSERT INTO committed VALUES ($1)`, n)
		require.NoError(t, err)
		commitWithQuery(&jobTx{Tx: tx})
		rows, rowsErr := tx.Query(ctx, query, n) // a statement that fails may fail here
		if rowsErr == nil {
			var got []int32
			if got, rowsErr = pgx.CollectRows(rows, pgx.RowTo[int32]); rowsErr == nil {
				require.Equal(t, []int32{int32(n)}, got)
			}
		}
		status = c.Conn().PgConn().TxStatus()
		if commitErr = tx.Commit(ctx); commitErr != nil {
			require.NoError(t, tx.Rollback(ctx))
		}
		return tx, status, rowsErr, commitErr
	}

	tx, status, rowsErr, commitErr := run(1, insert)
	require.NoError(t, rowsErr)
	require.NoError(t, commitErr)
	require.True(t, tx.commitSent)
	require.Equal(t, byte('I'), status, "committed with the insert's round trip: no transaction left open")
	require.True(t, stored(1))

	_, status, rowsErr, commitErr = run(-1, insert)
	require.ErrorContains(t, rowsErr, "refused at commit", "the COMMIT's failure is the rows' error")
	require.ErrorContains(t, commitErr, "refused at commit", "and Commit's")
	require.Equal(t, byte('I'), status)
	require.False(t, stored(-1))

	_, status, rowsErr, commitErr = run(2, "SELECT $1::int / 0 -- name: JobInsertFastMany (failing)")
	require.Error(t, rowsErr)
	require.Error(t, commitErr)
	require.Equal(t, byte('E'), status, "the COMMIT skipped: the transaction failed, rolled back after")
	require.False(t, stored(2))

	tx, status, rowsErr, commitErr = run(3, "SELECT $1::int AS n")
	require.NoError(t, rowsErr)
	require.NoError(t, commitErr)
	require.False(t, tx.commitSent, "another query: committed by Commit")
	require.Equal(t, byte('T'), status, "still in the transaction after it")
	require.True(t, stored(3))
}

// TestGroupCommitsWithItsJobs: a group whose writes queue jobs commits
// with their insert, and a COMMIT that fails there fails the writes: no
// message, no job, and the caller told.
func TestGroupCommitsWithItsJobs(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	db, tenant, c := openConversation(t)
	o, _, err := db.GetOrCreateConversation(ctx, tenant.ID, parley.NewConversation{
		ConversationKey: parley.ConversationKey{BotID: c.BotID, UserID: "another"}, CreateUser: true})
	require.NoError(t, err)
	conv, other := c.ID, o.ID
	jobs := func() (n int) {
		require.NoError(t, db.pool.QueryRow(ctx, `SELECT count(*) FROM river_job WHERE kind = $1`, parley.ReplyJob{}.Kind()).Scan(&n))
		return n
	}
	_, err = db.AppendMessage(ctx, tenant.ID, conv, parley.NewMessage{Text: "hello"})
	require.NoError(t, err)
	require.Equal(t, 1, jobs(), "the message's reply job")

	_, err = db.pool.Exec(ctx, `CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS $$
		BEGIN RAISE EXCEPTION 'refused at commit'; END $$;
		CREATE CONSTRAINT TRIGGER at_commit AFTER INSERT ON river_job DEFERRABLE INITIALLY DEFERRED
		FOR EACH ROW EXECUTE FUNCTION refuse();`)
	require.NoError(t, err)
	_, err = db.StoreReply(ctx, tenant.ID, conv, parley.Reply{UptoSeq: 1,
		Message: parley.NewMessage{FromBot: true, Text: "hi", Bubbles: []string{"hi"}}})
	require.NoError(t, err, "a reply that queues no job commits as before")
	_, err = db.AppendMessage(ctx, tenant.ID, other, parley.NewMessage{Text: "hello"}) // queues its reply job
	require.ErrorContains(t, err, "refused at commit")
	page, err := db.ListMessages(ctx, tenant.ID, other, parley.HistoryQuery{Limit: 10})
	require.NoError(t, err)
	require.Empty(t, page, "the refused message is not stored")
	require.Equal(t, 1, jobs())
}
