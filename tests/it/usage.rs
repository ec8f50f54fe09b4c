//! `usage` on real servers with `pg_stat_statements` loaded: what an application role really
//! ran across services, with counts.

use crate::support::pg::TestCluster;

#[tokio::test(flavor = "multi_thread")]
async fn the_harness_starts_a_server_that_records_statements() {
    let cluster = TestCluster::start_with_statements("app");
    cluster.psql_ok(
        "app",
        "CREATE TABLE counted (id int); INSERT INTO counted VALUES (1), (2), (3);",
    );
    let client = cluster.superuser("app").await;
    let row = client
        .query_one(
            "SELECT calls, rows FROM pg_stat_statements
             WHERE query LIKE 'INSERT INTO counted%'",
            &[],
        )
        .await
        .expect("pg_stat_statements is readable");
    assert_eq!(row.get::<_, i64>(0), 1);
    assert_eq!(row.get::<_, i64>(1), 3);
}
