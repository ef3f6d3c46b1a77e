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
