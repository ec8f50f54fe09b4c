//! Manifest loading: defaults, and every validation rule with its line and column.

use std::path::Path;

use super::*;

fn errors(text: &str) -> String {
    match Manifest::parse(Path::new("services.toml"), text) {
        Ok(_) => panic!("expected errors, the manifest was accepted"),
        Err(errors) => errors.to_string(),
    }
}

fn ok(text: &str) -> Manifest {
    Manifest::parse(Path::new("dir/services.toml"), text).unwrap_or_else(|e| panic!("{e}"))
}

const HEADER: &str = "version = 1\n[database]\nname = \"app\"\n";

#[test]
fn the_example_loads_with_defaults_filled_in() {
    let text = include_str!("../../services.toml.example");
    let manifest = ok(text);
    assert_eq!(manifest.database.name, "app");
    assert_eq!(manifest.database.public_schema, PublicSchema::Lockdown);
    assert!(manifest.database.revoke_public_connect);
    assert_eq!(manifest.migrations_dir(), Path::new("dir/migrations"));
    let names: Vec<&str> = manifest.services.iter().map(|s| s.name.as_str()).collect();
    assert_eq!(
        names,
        ["monolith", "billing", "notifications"],
        "file order"
    );
    let billing = manifest.service("billing").unwrap();
    assert_eq!(billing.schema, "billing");
    assert_eq!(billing.owner, "billing_owner");
    assert_eq!(billing.search_path, ["billing"]);
    assert_eq!(billing.reads[0].schema, "reference");
    let rw = &billing.roles[0];
    assert_eq!(
        (
            rw.name.as_str(),
            rw.access,
            rw.password_env.as_deref(),
            rw.connection_limit
        ),
        (
            "billing_rw",
            Access::ReadWrite,
            Some("BILLING_DB_PASSWORD"),
            None
        )
    );
    let monolith = manifest.service("monolith").unwrap();
    assert_eq!(monolith.roles[0].connection_limit, Some(30));
    assert_eq!(manifest.shared[0].owner, "reference_owner");
    assert_eq!(
        manifest.service_of_role("billing_owner").unwrap().name,
        "billing"
    );
}

#[test]
fn observers_reading_everything_get_every_schema() {
    let manifest = ok(&format!(
        "{HEADER}[services.a]\n[services.b]\nschema = \"bee\"\n[shared.ref]\n[observers.bi]\nreads = [\"*\"]\nreason = \"export\"\n"
    ));
    assert_eq!(manifest.observers[0].reads, ["a", "bee", "ref"]);
    assert!(!manifest.observers[0].login);
    assert_eq!(manifest.shared[0].owner, "ref_owner");
}

#[test]
fn text_that_is_not_toml_points_at_the_syntax_error() {
    insta::assert_snapshot!(errors("version = 1\n[database\nname = \"app\"\n"), @r"
    services.toml:2:10: error: not valid TOML: unclosed table, expected `]`
      |
    2 | [database
      |          ^
    services.toml: 1 error in manifest
    ");
}

#[test]
fn missing_version_and_database_are_reported_together() {
    insta::assert_snapshot!(errors("[services.a]\n"), @r#"
    services.toml:1:1: error: missing `version`
      |
    1 | [services.a]
      | ^
      = help: add `version = 1` at the top of the file

    services.toml:1:1: error: missing the [database] table
      |
    1 | [services.a]
      | ^
      = help: add [database] with name = "app" (the database the services share)
    services.toml: 2 errors in manifest
    "#);
}

#[test]
fn wrong_types_and_unknown_keys_at_every_level() {
    insta::assert_snapshot!(errors(
        "version = \"1\"\nfoo = 1\n[database]\nname = 3\nrevoke_public_connect = \"yes\"\n[services.a]\nroles = 5\nsearch_path = \"a\"\n[shared.r]\nowners = \"x\"\n"
    ));
}

#[test]
fn reserved_and_malformed_names() {
    insta::assert_snapshot!(errors(&format!(
        "{HEADER}[services.a]\nschema = \"information_schema\"\nowner = \"pg_monitor\"\nroles.public = {{ access = \"readonly\" }}\nroles.\"\" = {{ access = \"readonly\" }}\n[services.\"tab\\there\"]\n[services.b]\nschema = \"public\"\nroles.CURRENT_USER = {{ access = \"readonly\" }}\n"
    )));
}

#[test]
fn a_long_service_key_makes_a_default_owner_that_is_too_long() {
    let key = "s".repeat(60);
    let text = format!("{HEADER}[services.{key}]\n");
    let message = errors(&text);
    assert!(
        message.contains(&format!("role name `{key}_owner` is 66 bytes long")),
        "{message}"
    );
}

#[test]
fn one_name_for_two_roles_is_refused_wherever_it_appears() {
    insta::assert_snapshot!(errors(&format!(
        "{HEADER}[services.a]\nroles.a_owner = {{ access = \"readwrite\" }}\n[services.b]\nowner = \"a_rw\"\nroles.a_rw = {{ access = \"readonly\" }}\n[observers.b_owner]\nreads = [\"a\"]\nreason = \"r\"\n"
    )));
}

#[test]
fn reads_and_search_path_must_name_declared_schemas() {
    insta::assert_snapshot!(errors(
        "version = 1\n[database]\nname = \"app\"\npublic_schema = \"drop\"\n[services.a]\nreads = [{ schema = \"a\", reason = \"self\" }, { schema = \"b\", reason = \"\" }, \"c\"]\nsearch_path = [\"a\", \"b\", \"public\"]\n[services.b]\n[observers.o]\nreads = [\"zzz\"]\nreason = \"r\"\npassword_env = \"O_PW\"\n"
    ));
}

#[test]
fn a_broken_database_section_does_not_make_every_read_undeclared() {
    let message = errors(
        "version = 1\n[database]\nurl = \"x\"\n[services.a]\nreads = [{ schema = \"b\", reason = \"r\" }]\n[services.b]\n[observers.o]\nreads = [\"a\"]\nreason = \"r\"\n",
    );
    assert!(
        message.contains("missing `name` in [database]"),
        "{message}"
    );
    assert!(!message.contains("is not declared"), "{message}");
}

#[test]
fn a_declared_read_may_be_on_the_search_path() {
    let manifest = ok(&format!(
        "{HEADER}[services.a]\nreads = [{{ schema = \"b\", reason = \"r\" }}]\nsearch_path = [\"a\", \"b\"]\n[services.b]\n"
    ));
    assert_eq!(manifest.services[0].search_path, ["a", "b"]);
}

#[test]
fn unsupported_version() {
    let message = errors("version = 2\n[database]\nname = \"app\"\n");
    assert!(
        message.contains("services.toml:1:11: error: unsupported manifest version 2"),
        "{message}"
    );
}

#[test]
fn no_input_makes_loading_panic() {
    // Every prefix of the example, and the example with bytes replaced by troublesome ones:
    // each must load or be refused with diagnostics whose spans lie inside the text.
    let text = include_str!("../../services.toml.example");
    let replacements = [
        '"', '[', ']', '=', '\n', '.', '\\', '{', '}', '#', 'é', '\u{0}',
    ];
    let mut seed: u64 = 0x2545_f491_4f6c_dd1d;
    let mut inputs: Vec<String> = (0..text.len())
        .filter(|i| text.is_char_boundary(*i))
        .map(|i| text[..i].to_string())
        .collect();
    for _ in 0..2000 {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        let mut chars: Vec<char> = text.chars().collect();
        let at = (seed % chars.len() as u64) as usize;
        chars[at] = replacements[(seed >> 32) as usize % replacements.len()];
        inputs.push(chars.into_iter().collect());
    }
    for input in inputs {
        if let Err(errors) = Manifest::parse(Path::new("m.toml"), &input) {
            assert!(!errors.diagnostics.is_empty());
            for d in &errors.diagnostics {
                assert!(d.span.start <= input.len(), "{d:?}");
            }
            let _ = errors.to_string();
        }
    }
}

#[test]
fn password_version_and_member_of_are_checked_with_their_location() {
    let text = format!(
        "{HEADER}[services.a]\n\
         roles.a_rw = {{ access = \"readwrite\", password_env = \"A_PW\", password_version = 0 }}\n\
         roles.a_ro = {{ access = \"readonly\", password_version = 2 }}\n\
         roles.a_mig = {{ access = \"owner\", member_of = [\"pg_read_all_data\", \"rds_iam\", \"rds_iam\", \"b_owner\"] }}\n\
         [services.b]\n\
         roles.b_rw = {{ access = \"readwrite\", member_of = [\"pg_write_server_files\"] }}\n"
    );
    let errors = errors(&text);
    for expected in [
        "services.toml:5:80: error: password_version 0 is out of range",
        "services.toml:6:56: error: `password_version` of `a_ro` versions no password",
        "services.toml:7:48: error: `pg_read_all_data` reaches every schema; service role `a_mig` may not be a member of it",
        "services.toml:7:79: error: `rds_iam` is named twice in member_of of `a_mig`",
        "services.toml:7:90: error: member_of of `a_mig` names `b_owner`, a role of this manifest",
        "services.toml:9:51: error: `pg_write_server_files` reaches every schema",
    ] {
        assert!(
            errors.contains(expected),
            "missing {expected:?} in:\n{errors}"
        );
    }
}

#[test]
fn member_of_keeps_outside_roles_and_password_version_is_read() {
    let manifest = ok(&format!(
        "{HEADER}[services.a]\n\
         roles.a_rw = {{ access = \"readwrite\", password_env = \"A_PW\", password_version = 3, member_of = [\"rds_iam\", \"pg_monitor\", \"pg_signal_backend\"] }}\n\
         [observers.bi]\nreads = [\"*\"]\nreason = \"r\"\nlogin = true\npassword_env = \"BI_PW\"\npassword_version = 1\n"
    ));
    let rw = &manifest.services[0].roles[0];
    assert_eq!(rw.password_version, Some(3));
    assert_eq!(rw.member_of, ["rds_iam", "pg_monitor", "pg_signal_backend"]);
    assert_eq!(manifest.observers[0].password_version, Some(1));
    let desired = crate::desired::desired_state(&manifest);
    assert_eq!(
        desired.state.roles["a_rw"].member_of,
        ["pg_monitor", "pg_signal_backend", "rds_iam"]
            .map(String::from)
            .into()
    );
    assert_eq!(desired.password_versions["a_rw"], 3);
}

#[test]
fn pooler_defaults_and_pool_sizes() {
    let manifest = ok(&format!(
        "{HEADER}[services.a]\nroles.a_rw = {{ access = \"readwrite\", pool_size = 10, connection_limit = 20 }}\nroles.a_ro = {{ access = \"readonly\" }}\n[pooler]\ninstances = 2\n"
    ));
    let pooler = manifest.pooler.as_ref().unwrap();
    assert_eq!(
        (
            pooler.instances,
            pooler.pool_mode,
            pooler.listen_port,
            pooler.auth
        ),
        (2, PoolMode::Transaction, 6432, PoolerAuth::Userlist)
    );
    assert_eq!(manifest.services[0].roles[0].pool_size, Some(10));
    assert_eq!(manifest.services[0].roles[1].pool_size, None);
    let manifest = ok(&format!(
        "{HEADER}[services.a]\nroles.a_rw = {{ access = \"readwrite\", pool_size = 5 }}\n[pooler]\npool_mode = \"session\"\nlisten_port = 7432\nauth = \"auth_query\"\n"
    ));
    let pooler = manifest.pooler.unwrap();
    assert_eq!(
        (pooler.pool_mode, pooler.listen_port, pooler.auth),
        (PoolMode::Session, 7432, PoolerAuth::AuthQuery)
    );
    assert!(ok(HEADER).pooler.is_none());
}

#[test]
fn pool_sizes_over_the_connection_limit_and_a_pooler_without_pools_are_refused() {
    insta::assert_snapshot!(errors(&format!(
        "{HEADER}[services.a]\nroles.a_rw = {{ access = \"readwrite\", connection_limit = 15, pool_size = 8 }}\nroles.a_ro = {{ access = \"readonly\", connection_limit = 5, pool_size = 0 }}\n[pooler]\ninstances = 2\npool_mode = \"sometimes\"\nauth = \"md5\"\nlisten_port = 70000\n"
    )), @r#"
    services.toml:5:73: error: pool_size 8 × 2 instances = 16 server connections exceed connection_limit 15 of `a_rw`
      |
    5 | roles.a_rw = { access = "readwrite", connection_limit = 15, pool_size = 8 }
      |                                                                         ^
      = help: lower pool_size to at most 7 or raise connection_limit to at least 16

    services.toml:6:71: error: pool_size 0 is out of range
      |
    6 | roles.a_ro = { access = "readonly", connection_limit = 5, pool_size = 0 }
      |                                                                       ^
      = help: write the number of server connections PgBouncer keeps for this role, at least 1

    services.toml:9:13: error: unknown pool_mode `sometimes`
      |
    9 | pool_mode = "sometimes"
      |             ^^^^^^^^^^^
      = help: write "session", "transaction" or "statement"

    services.toml:10:8: error: unknown pooler auth `md5`
       |
    10 | auth = "md5"
       |        ^^^^^
       = help: write "userlist" or "auth_query"

    services.toml:11:15: error: listen_port 70000 is out of range
       |
    11 | listen_port = 70000
       |               ^^^^^
       = help: write a TCP port between 1 and 65535; PgBouncer's usual one is 6432
    services.toml: 5 errors in manifest
    "#);
}

#[test]
fn a_pool_size_over_the_connection_limit_of_one_instance() {
    insta::assert_snapshot!(errors(&format!(
        "{HEADER}[services.a]\nroles.a_rw = {{ access = \"readwrite\", connection_limit = 5, pool_size = 6 }}\n"
    )), @r#"
    services.toml:5:72: error: pool_size 6 exceeds connection_limit 5 of `a_rw`
      |
    5 | roles.a_rw = { access = "readwrite", connection_limit = 5, pool_size = 6 }
      |                                                                        ^
      = help: lower pool_size to at most 5 or raise connection_limit to at least 6
    services.toml: 1 error in manifest
    "#);
}

#[test]
fn a_pooler_without_any_pool_size() {
    insta::assert_snapshot!(errors(&format!(
        "{HEADER}[services.a]\nroles.a_rw = {{ access = \"readwrite\" }}\n\n[pooler]\ninstances = 1\n"
    )), @r#"
    services.toml:7:1: error: [pooler] is declared but no role has a `pool_size`
      |
    7 | [pooler]
      | ^
      = help: give the roles that connect through PgBouncer a pool_size, e.g. roles.billing_rw = { access = "readwrite", pool_size = 10 }, or remove [pooler]
    services.toml: 1 error in manifest
    "#);
}
