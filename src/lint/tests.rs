//! Rule tests over small SQL snippets, linted as a migration of service `billing` in the
//! manifest of the SQL corpus (tests/lint/services.toml). `lint_ok(sql)` asserts no finding;
//! `lint_errors(sql)` lists them as `rule line:column target_schema` lines.

use super::*;
use crate::manifest::Manifest;

/// The manifest of the SQL corpus under tests/lint.
const MANIFEST: &str = include_str!("../../tests/lint/services.toml");

pub(crate) fn manifest() -> Manifest {
    Manifest::parse(std::path::Path::new("services.toml"), MANIFEST).expect("a valid manifest")
}

fn findings(sql: &str) -> Vec<Finding> {
    let input = Input {
        files: vec![SqlFile {
            path: "m.sql".into(),
            service: "billing".into(),
            text: sql.to_string(),
        }],
        sums: vec![],
    };
    lint(&manifest(), &input)
}

fn render(findings: &[Finding]) -> String {
    findings
        .iter()
        .map(|f| {
            let Location::File { line, column, .. } = &f.location else {
                unreachable!("lint findings are in files")
            };
            let target = f.target_schema.as_deref().unwrap_or("-");
            format!("{} {line}:{column} {target}", f.rule)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// Asserts that `sql` has no finding.
#[track_caller]
fn lint_ok(sql: &str) {
    let found = findings(sql);
    assert!(
        found.is_empty(),
        "expected no finding (use lint_errors for SQL with findings) in:\n{sql}\nfound:\n{}\n{:#?}",
        render(&found),
        found
    );
}

/// The findings of `sql`, one `rule line:column target_schema` per line.
#[track_caller]
fn lint_errors(sql: &str) -> String {
    let found = findings(sql);
    assert!(
        !found.is_empty(),
        "expected findings (use lint_ok for clean SQL) in:\n{sql}"
    );
    render(&found)
}

#[test]
fn own_schema_unqualified_names_and_declared_reads_are_fine() {
    lint_ok("create table invoices (id bigint primary key, currency text not null);");
    lint_ok("select * from billing.invoices i join reference.currencies c on c.code = i.currency;");
    lint_ok("insert into billing.invoices select * from invoices;");
    lint_ok(
        "select pg_catalog.now(), information_schema.tables.table_name from information_schema.tables;",
    );
}

#[test]
fn cross_schema_references_in_queries() {
    insta::assert_snapshot!(lint_errors("select * from monolith.users u\n  join notifications.outbox o on o.user_id = u.id;"), @r"
    cross-schema-reference 1:15 monolith
    cross-schema-reference 2:8 notifications
    ");
}

#[test]
fn writes_into_a_readable_schema_are_still_findings() {
    insta::assert_snapshot!(lint_errors("insert into reference.currencies values ('EUR');\nupdate only reference.currencies set code = 'x';\ndelete from reference.currencies;"), @r"
    cross-schema-write 1:13 reference
    unparsed-statement 2:1 -
    cross-schema-write 2:13 reference
    cross-schema-write 3:13 reference
    ");
}

#[test]
fn aliases_named_like_schemas_are_not_schemas() {
    lint_ok("select monolith.id from invoices monolith;");
    lint_ok("with monolith as (select 1 as id) select monolith.id from monolith;");
    insta::assert_snapshot!(lint_errors("select monolith.id from monolith.users monolith;"), @"cross-schema-reference 1:25 monolith");
}

#[test]
fn allow_comment_suppresses_one_rule_on_the_next_statement() {
    lint_ok(
        "-- dbsplit:allow cross-schema-reference the report is owned by both teams\nselect * from monolith.users;",
    );
    insta::assert_snapshot!(lint_errors("-- dbsplit:allow cross-schema-fk wrong rule\nselect * from monolith.users;\nselect * from monolith.users;"), @r"
    cross-schema-reference 2:15 monolith
    cross-schema-reference 3:15 monolith
    ");
    insta::assert_snapshot!(lint_errors("-- dbsplit:allow cross-schema-reference\nselect 1;\n-- dbsplit:allow nope because\nselect 1;\n-- dbsplit:frobnicate\n-- dbsplit:no-transaction\nselect 1;"), @r"
    bad-directive 1:1 -
    bad-directive 3:1 -
    bad-directive 5:1 -
    bad-directive 6:1 -
    ");
}

#[test]
fn garbage_never_panics() {
    for sql in [
        "",
        ";",
        "'",
        "$$",
        "do",
        "do $$",
        "create function",
        "create function f() as $$ select monolith.",
        "create function f() language sql as 'select ''x'' from monolith.t",
        "set search_path",
        "set role",
        "grant",
        "\\",
        "\u{feff}",
        "select monolith.",
        "copy t from stdin",
        "select 'a'::",
        "nextval(",
        "create function f() as $a$ create function g() as $b$ select 1 $b$ $a$",
    ] {
        let _ = findings(sql);
    }
    // Every prefix of a text that has a bit of everything, cut at every character.
    let text = "-- dbsplit:no-transaction\nCREATE FUNCTION f() LANGUAGE sql AS 'select ''é'' from monolith.t';\n\
        DO $d$ BEGIN UPDATE monolith.u SET x = E'\\''; END $d$; SET search_path = 'a, \"B\"';\n\
        COPY t FROM stdin;\nx\n\\.\n\\c other\nGRANT billing_rw TO monolith_owner; SELECT 'monolith.x'::regclass;";
    for (i, _) in text.char_indices() {
        let _ = findings(&text[..i]);
    }
}

#[test]
fn statements_nested_too_deeply_for_the_parser_are_unparsed_not_a_crash() {
    let deep = format!(
        "select 1 from monolith.users where {};\ncreate function f() returns int language sql as $$ select {} $$;\n",
        vec!["id = 1"; 150_000].join(" or "),
        vec!["1"; 150_000].join(" + ")
    );
    insta::assert_snapshot!(lint_errors(&deep), @r"
    unparsed-statement 1:1 -
    cross-schema-reference 1:15 monolith
    unparsed-statement 2:52 -
    ");
    let found = findings(&deep);
    assert!(
        found[0]
            .message
            .starts_with("the SQL parser cannot read this statement (its operators nest 300001 deep, more than the 2000 it is given)"),
        "{}",
        found[0].message
    );
}
