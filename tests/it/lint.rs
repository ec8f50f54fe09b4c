//! `dbsplit lint`: the corpus under tests/lint (one SQL case per construct, each with its
//! expected findings in `-- expect:` lines), and the binary on a migrations tree: exit codes,
//! every output format, stale sums. Also `new` and `migrate hash`, which write what lint reads.

use std::path::{Path, PathBuf};

use dbsplit::finding::Location;
use dbsplit::lint::{Input, SqlFile, lint};
use dbsplit::manifest::Manifest;

use crate::support::{dbsplit, root, stderr, stdout};

/// Every `tests/lint/*.sql` is linted as a migration of `billing`; its `-- expect: <rule>
/// <line>:<column> [<target schema>]` lines list exactly the findings it must have (none when
/// there is no such line).
#[test]
fn corpus_cases_have_exactly_their_expected_findings() {
    let dir = root().join("tests").join("lint");
    let manifest = Manifest::load(&dir.join("services.toml")).expect("the corpus manifest loads");
    let mut cases: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sql"))
        .collect();
    cases.sort();
    assert!(cases.len() >= 40, "the corpus has {} cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(case).unwrap();
        let mut expected: Vec<String> = text
            .lines()
            .filter_map(|l| l.strip_prefix("-- expect: "))
            .map(str::to_string)
            .collect();
        let input = Input {
            files: vec![SqlFile {
                path: case.file_name().unwrap().into(),
                service: "billing".into(),
                text: text.clone(),
            }],
            sums: vec![],
        };
        let mut actual: Vec<String> = lint(&manifest, &input)
            .iter()
            .map(|f| {
                let Location::File { line, column, .. } = &f.location else {
                    panic!("lint findings are in files")
                };
                let target = f
                    .target_schema
                    .as_deref()
                    .map(|t| format!(" {t}"))
                    .unwrap_or_default();
                format!("{} {line}:{column}{target}", f.rule)
            })
            .collect();
        expected.sort();
        actual.sort();
        if expected != actual {
            failures.push(format!(
                "{}:\n  expected: {expected:?}\n  actual:   {actual:?}\n{}",
                case.display(),
                actual
                    .iter()
                    .map(|a| format!("-- expect: {a}\n"))
                    .collect::<String>()
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
