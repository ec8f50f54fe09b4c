//! `graph` on real servers: the example with a legacy coupling planted (a grant, a foreign
//! key, a view, runtime statements) draws each as a counted edge; without pg_stat_statements
//! it still draws, with no runtime edges.

use crate::support::pg::TestCluster;
use crate::support::{stderr, stdout};
use crate::usage::{coupled, run_as, traffic};

/// A foreign key and a view from billing into monolith.
const PLANTED: &str = "
ALTER TABLE billing.invoices ADD COLUMN customer_id bigint REFERENCES monolith.customers (id);
CREATE VIEW billing.customer_names AS SELECT name FROM monolith.customers;
ALTER VIEW billing.customer_names OWNER TO billing_owner;
";

fn edges(output: &std::process::Output) -> Vec<serde_json::Value> {
    let graph: serde_json::Value = serde_json::from_str(&stdout(output))
        .unwrap_or_else(|e| panic!("graph --format json: {e}\n{}", stdout(output)));
    graph["edges"].as_array().expect("edges").clone()
}

fn edge<'a>(
    edges: &'a [serde_json::Value],
    from: &str,
    to: &str,
    kind: &str,
) -> &'a serde_json::Value {
    edges
        .iter()
        .find(|e| e["from"] == from && e["to"] == to && e["kind"] == kind)
        .unwrap_or_else(|| panic!("no {kind} edge {from} -> {to}: {edges:#?}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn graph_draws_declared_reads_couplings_and_runtime_statements_with_counts() {
    let cluster = TestCluster::start_with_statements("app");
    coupled(&cluster);
    cluster.psql_ok("app", PLANTED);
    traffic(&cluster).await;

    let output = run_as(&cluster, "postgres", &["graph", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let edges = edges(&output);
    assert_eq!(
        edge(&edges, "billing", "monolith", "foreign-key")["count"],
        1
    );
    assert_eq!(edge(&edges, "billing", "monolith", "view")["count"], 1);
    // USAGE on the schema and SELECT, INSERT on the table: two grants.
    assert_eq!(edge(&edges, "billing", "monolith", "grant")["count"], 2);
    assert_eq!(
        edge(&edges, "billing", "monolith", "shared-writer")["count"],
        1
    );
    let runtime = edge(&edges, "billing", "monolith", "runtime");
    assert_eq!(runtime["violation"], true);
    assert_eq!(runtime["count"], 3, "{runtime:#}");
    assert_eq!(runtime["calls"], 6, "{runtime:#}");
    let declared = edge(&edges, "billing", "reference", "declared-read");
    assert_eq!(declared["violation"], false);
    assert_eq!(
        edge(&edges, "billing", "reference", "runtime")["violation"],
        false
    );

    let output = run_as(&cluster, "postgres", &["graph"]);
    let mermaid = stdout(&output);
    assert!(mermaid.starts_with("flowchart LR\n"), "{mermaid}");
    assert!(mermaid.contains(r#"-.->|"declared read"|"#), "{mermaid}");
    assert!(mermaid.contains(r#"-->|"1 foreign key"|"#), "{mermaid}");
    assert!(mermaid.contains("linkStyle"), "{mermaid}");
    let output = run_as(&cluster, "postgres", &["graph", "--format", "dot"]);
    let dot = stdout(&output);
    assert!(
        dot.contains(r#""billing" -> "monolith" [label="1 view", color=red, fontcolor=red];"#),
        "{dot}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn without_pg_stat_statements_graph_draws_without_runtime_edges() {
    let cluster = TestCluster::start("app");
    coupled(&cluster);
    cluster.psql_ok("app", PLANTED);
    let output = run_as(&cluster, "postgres", &["graph", "--format", "json"]);
    assert_eq!(output.status.code(), Some(0), "{}", stderr(&output));
    let edges = edges(&output);
    assert_eq!(
        edge(&edges, "billing", "monolith", "foreign-key")["count"],
        1
    );
    assert!(edges.iter().all(|e| e["kind"] != "runtime"), "{edges:#?}");
}
