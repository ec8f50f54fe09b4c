//! The schema against the manifest reader and validator it describes.

use std::path::Path;

use super::keys::{Default, KEYS, TABLE_DESCRIPTIONS, Type};
use super::*;
use crate::manifest::Manifest;

#[test]
fn every_key_the_reader_accepts_is_described() {
    let missing: Vec<String> = KEY_TABLES
        .iter()
        .flat_map(|(table, keys)| keys.iter().map(move |key| (*table, *key)))
        .filter(|(table, key)| describe(table, key).is_none())
        .map(|(table, key)| format!("{table}.{key}"))
        .collect();
    assert!(
        missing.is_empty(),
        "describe these keys in src/schema/keys.rs: {missing:?}"
    );
}

#[test]
fn every_description_is_of_a_key_the_reader_accepts() {
    for key in KEYS {
        let accepted = KEY_TABLES
            .iter()
            .any(|(table, keys)| *table == key.table && keys.contains(&key.key));
        assert!(
            accepted,
            "{}.{} is described but the reader does not accept it",
            key.table, key.key
        );
    }
    for (table, _) in KEY_TABLES {
        assert!(
            TABLE_DESCRIPTIONS.iter().any(|(t, _)| t == table),
            "table {table} has no description"
        );
    }
}

#[test]
fn every_reference_names_a_definition() {
    let schema = schema();
    let definitions = schema["definitions"].as_object().unwrap();
    let text = schema.to_string();
    for piece in text.split("\"#/definitions/").skip(1) {
        let name = &piece[..piece.find('"').unwrap()];
        assert!(definitions.contains_key(name), "{name}");
    }
    jsonschema::meta::validate(&schema).unwrap();
}

/// A small valid manifest with `key = value` written into `table` (replacing a line of the
/// same key), with what the key needs next to it.
fn manifest_with(table: &str, key: &str, value: &str) -> String {
    let fleet = matches!(table, "cluster" | "fleet_database")
        || matches!(
            (table, key),
            ("manifest", "clusters" | "databases" | "migrations_dir")
        );
    // A fleet manifest names its clusters and databases instead of [database] (and [pooler]).
    let mut sections: Vec<(&str, &str, Vec<String>)> = if fleet {
        vec![
            ("manifest", "", vec!["version = 1".into()]),
            (
                "cluster",
                "[clusters.main]",
                vec!["url = \"postgres://db.internal/app\"".into()],
            ),
            (
                "fleet_database",
                "[databases.app]",
                vec!["cluster = \"main\"".into()],
            ),
            ("service", "[services.a]", vec![]),
            (
                "role",
                "[services.a.roles.a_x]",
                vec!["access = \"readonly\"".into()],
            ),
        ]
    } else {
        vec![
            ("manifest", "", vec!["version = 1".into()]),
            ("database", "[database]", vec!["name = \"app\"".into()]),
            ("pooler", "[pooler]", vec![]),
            ("service", "[services.a]", vec![]),
            (
                "role",
                "[services.a.roles.a_x]",
                // [pooler] needs a role with a pool_size.
                vec!["access = \"readonly\"".into(), "pool_size = 1".into()],
            ),
        ]
    };
    sections.push((
        "observer",
        "[observers.o]",
        vec![
            "reads = [\"*\"]".into(),
            "reason = \"r\"".into(),
            "login = true".into(),
        ],
    ));
    for (name, _, lines) in &mut sections {
        if *name != table {
            continue;
        }
        lines.retain(|line| !line.starts_with(&format!("{key} =")));
        if key == "url_env" {
            // A cluster has url or url_env, not both.
            lines.retain(|line| !line.starts_with("url ="));
        }
        if key == "password_version" {
            lines.push("password_env = \"PW\"".into());
        }
        lines.push(format!("{key} = {value}"));
    }
    let mut text = String::new();
    for (_, header, lines) in sections {
        text.push_str(header);
        text.push('\n');
        for line in lines {
            text.push_str(&line);
            text.push('\n');
        }
    }
    text
}

/// The values worth trying for a key: (TOML value, whether the schema says it is allowed).
fn probes(type_: Type, default: Option<Default>) -> Vec<(String, bool)> {
    let mut probes = match type_ {
        Type::Const(value) => vec![(value.to_string(), true), ((value + 1).to_string(), false)],
        Type::Integer { min, max } => vec![
            (min.to_string(), true),
            (max.to_string(), true),
            ((min - 1).to_string(), false),
            ((max + 1).to_string(), false),
        ],
        Type::Boolean => vec![
            ("true".into(), true),
            ("false".into(), true),
            ("\"yes\"".into(), false),
        ],
        Type::OneOf(values) => values
            .iter()
            .map(|(value, _)| (format!("\"{value}\""), true))
            .chain([("\"bogus\"".into(), false)])
            .collect(),
        Type::EnvName => vec![("\"A_1\"".into(), true), ("\"1A\"".into(), false)],
        _ => Vec::new(),
    };
    match default {
        Some(Default::Text(text)) => probes.push((format!("\"{text}\""), true)),
        Some(Default::Integer(number)) => probes.push((number.to_string(), true)),
        Some(Default::Boolean(flag)) => probes.push((flag.to_string(), true)),
        None => {}
    }
    probes
}

#[test]
fn values_defaults_and_ranges_agree_with_the_validator() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    let mut tried = 0;
    for key in KEYS {
        for (value, allowed) in probes(key.type_, key.default) {
            let text = manifest_with(key.table, key.key, &value);
            let document: toml::Value = toml::from_str(&text).unwrap();
            let instance = serde_json::to_value(document).unwrap();
            let by_schema = validator.is_valid(&instance);
            let by_validator = Manifest::parse(Path::new("services.toml"), &text);
            let what = format!("{}.{} = {value}", key.table, key.key);
            assert_eq!(by_schema, allowed, "the schema on {what}");
            assert_eq!(
                by_validator.is_ok(),
                allowed,
                "the validator on {what}: {:?}\n{text}",
                by_validator.err().map(|e| e.to_string())
            );
            tried += 1;
        }
    }
    assert!(tried > 40, "{tried}");
}

#[test]
fn an_unknown_key_is_refused_in_every_table() {
    let validator = jsonschema::validator_for(&schema()).unwrap();
    for (table, _) in KEY_TABLES {
        if *table == "read" || *table == "shared" {
            continue;
        }
        let text = manifest_with(table, "no_such_key", "1");
        let instance = serde_json::to_value(toml::from_str::<toml::Value>(&text).unwrap()).unwrap();
        assert!(!validator.is_valid(&instance), "{table}");
        assert!(
            Manifest::parse(Path::new("services.toml"), &text).is_err(),
            "{table}"
        );
    }
}

#[test]
fn the_commented_owner_keys_are_valid_once_uncommented() {
    let uncommented: String = OWNER_COMMENTS
        .lines()
        .map(|line| format!("{}\n", line.trim_start_matches("# ")))
        .collect();
    let text =
        format!("version = 1\n[database]\nname = \"app\"\n[services.billing]\n{uncommented}");
    let manifest = crate::manifest::Manifest::parse(std::path::Path::new("services.toml"), &text)
        .unwrap_or_else(|e| panic!("{e}\n{text}"));
    let billing = manifest.service("billing").unwrap();
    assert_eq!(billing.team.as_deref(), Some("@your-org/your-team"));
    assert_eq!(billing.contact.as_deref(), Some("#your-oncall"));
}
