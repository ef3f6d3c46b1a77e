//! `host::db::Prepared` on a real server: a host query the command runs at
//! every batch is prepared once per connection, and prepared again when the
//! server no longer knows it.

mod support;

use host::db::Prepared;
use std::sync::Arc;
use support::Cluster;
use tokio_postgres::types::Type;

static PLUS_ONE: Prepared = Prepared::new("SELECT $1::int4 + 1 AS next", &[Type::INT4]);

/// The names of the protocol-level statements prepared on `client` with
/// [`PLUS_ONE`]'s text.
async fn names(client: &tokio_postgres::Client) -> Vec<String> {
    let rows = client
        .query(
            "SELECT name FROM pg_catalog.pg_prepared_statements WHERE NOT from_sql AND statement = $1 ORDER BY name",
            &[&"SELECT $1::int4 + 1 AS next"],
        )
        .await
        .expect("pg_prepared_statements");
    rows.iter().map(|r| r.get(0)).collect()
}

async fn next(client: &Arc<tokio_postgres::Client>, n: i32) -> i32 {
    let rows = PLUS_ONE.query(client, &[&n]).await.expect("the prepared query runs");
    rows[0].get(0)
}

#[test]
fn a_query_is_prepared_once_per_connection_and_again_when_the_server_forgot_it() {
    let c = Cluster::start("prepared");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    rt.block_on(async {
        let connect = || async {
            let (client, connection) = tokio_postgres::connect(&c.url(), tokio_postgres::NoTls).await.expect("connect");
            tokio::spawn(connection);
            Arc::new(client)
        };
        let (one, two) = (connect().await, connect().await);
        assert_eq!(next(&one, 1).await, 2);
        let first = names(&one).await;
        assert_eq!(first.len(), 1, "prepared once on the first run: {first:?}");
        for n in 2..8 {
            assert_eq!(next(&one, n).await, n + 1);
        }
        assert_eq!(names(&one).await, first, "the same statement at every later run, not prepared again");

        // Another connection prepares its own.
        assert_eq!(next(&two, 10).await, 11);
        assert_eq!(names(&two).await.len(), 1);
        assert_eq!(names(&one).await, first);

        // The server forgot it (a DEALLOCATE ALL on that connection):
        // prepared again, not a failed query.
        one.batch_execute("DEALLOCATE ALL").await.expect("deallocate");
        assert!(names(&one).await.is_empty());
        assert_eq!(next(&one, 20).await, 21);
        let again = names(&one).await;
        assert_eq!(again.len(), 1, "prepared again: {again:?}");
        assert_ne!(again, first, "a new statement, under a new name");
        assert_eq!(next(&two, 30).await, 31, "the other connection's statement is untouched");

        // A client dropped and another made, likely at the same address:
        // never taken for the old one, so a first run inside a transaction
        // works (a stale statement would abort it: 26000, then 25P02).
        drop(two);
        for n in 0..4 {
            let three = connect().await;
            three.batch_execute("BEGIN").await.expect("begin");
            assert_eq!(next(&three, n).await, n + 1);
            three.batch_execute("COMMIT").await.expect("commit");
            assert_eq!(names(&three).await.len(), 1, "its own statement, prepared on it");
        }
    });
}

static TIMES_TWO: Prepared = Prepared::new("SELECT $1::int4 * 2 AS twice", &[Type::INT4]);

async fn twice_in(client: &Arc<tokio_postgres::Client>, n: i32) -> Result<i32, tokio_postgres::Error> {
    Ok(TIMES_TWO.query_in(client, &[&n]).await?[0].get(0))
}

/// In a transaction a kept statement is never prepared again (that would
/// follow an error that aborted it): the session's reset says which
/// statements it still has, what it lost is forgotten, and the next read
/// prepares it anew. The reset deallocates what SQL `PREPARE` made and
/// keeps the protocol-level statements, with or without their plans.
#[test]
fn a_read_in_a_transaction_fails_on_a_lost_statement_and_the_reset_says_what_to_forget() {
    let c = Cluster::start("prepared-in");
    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().expect("a runtime");
    rt.block_on(async {
        let (client, connection) = tokio_postgres::connect(&c.url(), tokio_postgres::NoTls).await.expect("connect");
        tokio::spawn(connection);
        let client = Arc::new(client);
        client.batch_execute("BEGIN").await.unwrap();
        assert_eq!(twice_in(&client, 2).await.unwrap(), 4);
        client.batch_execute("COMMIT; PREPARE mine AS SELECT 1").await.unwrap();

        for plans in [host::db::Plans::Keep, host::db::Plans::Discard] {
            let present = host::db::reset_session(&client, plans).await.expect("reset");
            assert!(present.iter().any(|p| p == "SELECT $1::int4 * 2 AS twice"), "{plans:?}: {present:?}");
            assert!(!present.iter().any(|p| p.contains("mine")), "SQL's own is not listed: {present:?}");
            TIMES_TWO.forget_gone(&client, &present);
            client.batch_execute("BEGIN").await.unwrap();
            assert_eq!(twice_in(&client, 3).await.unwrap(), 6, "{plans:?}: still kept, still there");
            client.batch_execute("COMMIT").await.unwrap();
        }
        let from_sql = "SELECT count(*) FROM pg_catalog.pg_prepared_statements WHERE from_sql";
        assert_eq!(client.query_one(from_sql, &[]).await.unwrap().get::<_, i64>(0), 0, "the reset deallocated `mine`");

        // Lost (a DEALLOCATE ALL): in a transaction the read fails, 26000.
        client.batch_execute("DEALLOCATE ALL; BEGIN").await.unwrap();
        let lost = twice_in(&client, 4).await.expect_err("the statement is gone");
        assert_eq!(lost.code(), Some(&tokio_postgres::error::SqlState::INVALID_SQL_STATEMENT_NAME), "{lost}");
        client.batch_execute("ROLLBACK").await.unwrap();

        // The reset no longer lists it; forgotten, it is prepared again.
        let present = host::db::reset_session(&client, host::db::Plans::Keep).await.expect("reset");
        assert!(!present.iter().any(|p| p == "SELECT $1::int4 * 2 AS twice"), "{present:?}");
        TIMES_TWO.forget_gone(&client, &present);
        client.batch_execute("BEGIN").await.unwrap();
        assert_eq!(twice_in(&client, 5).await.unwrap(), 10);
        client.batch_execute("COMMIT").await.unwrap();
    });
}
