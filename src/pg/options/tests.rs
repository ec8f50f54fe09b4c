//! Resolution of connection settings, with the environment passed in (tests run in parallel,
//! so none of them changes the process's environment).

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use super::*;

/// A fake environment: variables, and `billing` as the operating-system user.
fn with_env(vars: &[(&str, &str)], url: Option<&str>) -> Result<ConnectOptions, SettingsError> {
    let vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let var = move |name: &str| vars.get(name).cloned();
    resolve(
        url,
        &Env {
            var: &var,
            os_user: Some("billing".into()),
        },
    )
}

fn ok(vars: &[(&str, &str)], url: Option<&str>) -> ConnectOptions {
    with_env(vars, url).unwrap_or_else(|e| panic!("{e}"))
}

fn err(vars: &[(&str, &str)], url: Option<&str>) -> String {
    with_env(vars, url).expect_err("should fail").to_string()
}

/// A private temp folder for one test, removed at the end.
struct TempHome(PathBuf);

impl TempHome {
    fn new(name: &str) -> TempHome {
        let dir = std::env::temp_dir().join(format!("dbsplit-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).expect("temp dir");
        TempHome(dir)
    }

    fn file(&self, name: &str, text: &str, mode: u32) -> PathBuf {
        let path = self.0.join(name);
        fs::create_dir_all(path.parent().expect("has a parent")).expect("parent dir");
        fs::write(&path, text).expect("write");
        fs::set_permissions(&path, fs::Permissions::from_mode(mode)).expect("chmod");
        path
    }

    fn path(&self) -> &str {
        self.0.to_str().expect("utf-8 temp path")
    }
}

impl Drop for TempHome {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

#[test]
fn defaults_are_libpqs() {
    let options = ok(&[], None);
    assert_eq!(options.host, Host::Default);
    assert_eq!(options.port, 5432);
    assert_eq!(options.user, "billing");
    assert_eq!(options.dbname, "billing");
    assert_eq!(options.sslmode, SslMode::Prefer);
    assert_eq!(options.sslrootcert, None);
    assert_eq!(options.connect_timeout, Some(Duration::from_secs(10)));
    assert_eq!(options.application_name, "dbsplit");
    assert_eq!(options.password, None);
    assert_eq!(options.verify(), Verify::Nothing);
    assert_eq!(options.redacted(), "billing@[local]:5432/billing");
}

#[test]
fn environment_variables_apply_without_a_url() {
    let options = ok(
        &[
            ("PGHOST", "db.internal"),
            ("PGPORT", "6432"),
            ("PGUSER", "billing_rw"),
            ("PGDATABASE", "app"),
            ("PGSSLMODE", "verify-full"),
            ("PGSSLROOTCERT", "/etc/ca.pem"),
            ("PGCONNECT_TIMEOUT", "7"),
            ("PGAPPNAME", "ci"),
            ("PGOPTIONS", "-c statement_timeout=5s"),
        ],
        None,
    );
    assert_eq!(options.host, Host::Tcp("db.internal".into()));
    assert_eq!(options.port, 6432);
    assert_eq!(options.user, "billing_rw");
    assert_eq!(options.dbname, "app");
    assert_eq!(options.sslmode, SslMode::VerifyFull);
    assert_eq!(
        options.verify(),
        Verify::Full(RootCerts::File("/etc/ca.pem".into()))
    );
    assert_eq!(options.connect_timeout, Some(Duration::from_secs(7)));
    assert_eq!(options.application_name, "ci");
    assert_eq!(options.options.as_deref(), Some("-c statement_timeout=5s"));
    assert_eq!(options.redacted(), "billing_rw@db.internal:6432/app");
}

#[test]
fn the_url_wins_and_the_environment_fills_the_gaps() {
    let env = [
        ("PGHOST", "env-host"),
        ("PGPORT", "6432"),
        ("PGUSER", "env_user"),
        ("PGPASSWORD", "env-secret"),
        ("PGSSLMODE", "disable"),
    ];
    let options = ok(&env, Some("postgres://url_user:url-secret@url-host/app"));
    assert_eq!(options.host, Host::Tcp("url-host".into()));
    assert_eq!(
        options.port, 6432,
        "PGPORT fills the port the URL leaves out"
    );
    assert_eq!(options.user, "url_user");
    assert_eq!(options.dbname, "app");
    assert_eq!(options.sslmode, SslMode::Disable);
    assert_eq!(options.password, Some(Password("url-secret".into())));
    assert_eq!(
        options.password_source,
        Some(PasswordSource::ConnectionString)
    );

    let options = ok(&env, Some("host=kv-host dbname=app sslmode=require"));
    assert_eq!(options.host, Host::Tcp("kv-host".into()));
    assert_eq!(options.user, "env_user");
    assert_eq!(options.sslmode, SslMode::Require);
    assert_eq!(options.password, Some(Password("env-secret".into())));
    assert_eq!(options.password_source, Some(PasswordSource::Environment));

    // An empty value counts as unset, as in libpq.
    let options = ok(&env, Some("postgresql:///app?host="));
    assert_eq!(options.host, Host::Tcp("env-host".into()));
}

#[test]
fn socket_hosts_and_ipv6() {
    let options = ok(&[("PGHOST", "/run/pg")], None);
    assert_eq!(options.host, Host::Socket("/run/pg".into()));
    assert_eq!(options.redacted(), "billing@[local:/run/pg]:5432/billing");
    let options = ok(&[], Some("postgresql://%2Ftmp%2Fpg:5433/app"));
    assert_eq!(options.host, Host::Socket("/tmp/pg".into()));
    assert_eq!(options.port, 5433);
    let options = ok(&[], Some("postgres://u@[::1]:5433/app"));
    assert_eq!(options.redacted(), "u@[::1]:5433/app");
}

#[test]
fn bad_settings_name_the_setting_and_where_it_came_from() {
    assert_eq!(
        err(&[("PGPORT", "54x")], None),
        "invalid port `54x` in PGPORT"
    );
    assert_eq!(
        err(&[], Some("postgres://h:0/app")),
        "invalid port `0` in the database URL"
    );
    assert_eq!(
        err(&[("PGSSLMODE", "on")], None),
        "invalid sslmode `on` in PGSSLMODE; expected disable, allow, prefer, require, verify-ca or verify-full"
    );
    assert_eq!(
        err(&[], Some("host=h sslcert=/c.pem")),
        "invalid database URL: unknown or unsupported option `sslcert`"
    );
    assert_eq!(
        err(&[("PGHOST", "a,b")], None),
        "several hosts in PGHOST are not supported; name one host"
    );
    assert_eq!(
        err(&[("PGCONNECT_TIMEOUT", "soon")], None),
        "invalid connect_timeout `soon` in PGCONNECT_TIMEOUT"
    );
    assert_eq!(
        err(&[], Some("sslmode=require sslrootcert=system")),
        "sslrootcert=system needs sslmode=verify-full, else any publicly trusted certificate would be accepted"
    );
    let no_user = resolve(
        None,
        &Env {
            var: &|_: &str| None,
            os_user: None,
        },
    );
    assert!(
        no_user
            .expect_err("no user")
            .to_string()
            .starts_with("no user name given")
    );
}

#[test]
fn connect_timeout_follows_libpq() {
    let timeout = |value: &str| ok(&[("PGCONNECT_TIMEOUT", value)], None).connect_timeout;
    assert_eq!(timeout("0"), None);
    assert_eq!(timeout("-3"), None);
    assert_eq!(timeout("1"), Some(Duration::from_secs(2)));
    assert_eq!(timeout(" 10 "), Some(Duration::from_secs(10)));
}

#[test]
fn sslmodes_map_to_certificate_checks() {
    let verify = |url: &str| ok(&[], Some(url)).verify();
    assert_eq!(verify("sslmode=disable"), Verify::Nothing);
    assert_eq!(
        verify("sslmode=prefer sslrootcert=/ca.pem"),
        Verify::Nothing
    );
    assert_eq!(verify("sslmode=require"), Verify::Nothing);
    assert_eq!(
        verify("sslmode=require sslrootcert=/ca.pem"),
        Verify::Chain(RootCerts::File("/ca.pem".into()))
    );
    assert_eq!(
        verify("sslmode=verify-ca"),
        Verify::Chain(RootCerts::System)
    );
    assert_eq!(
        verify("sslmode=verify-full sslrootcert=system"),
        Verify::Full(RootCerts::System)
    );
}

#[test]
fn home_root_certificate_is_the_default_sslrootcert() {
    let home = TempHome::new("rootcrt");
    let ca = home.file(".postgresql/root.crt", "not parsed here", 0o644);
    let options = ok(&[("HOME", home.path()), ("PGSSLMODE", "require")], None);
    assert_eq!(options.sslrootcert, Some(RootCerts::File(ca.clone())));
    assert_eq!(options.verify(), Verify::Chain(RootCerts::File(ca)));
}

#[test]
fn password_file_is_used_when_no_password_is_given() {
    let home = TempHome::new("pgpass-home");
    let pgpass = home.file(
        ".pgpass",
        "db.internal:5432:app:billing_rw:from-file\nlocalhost:*:*:billing_rw:local-secret\n",
        0o600,
    );
    let base = [
        ("HOME", home.path()),
        ("PGUSER", "billing_rw"),
        ("PGDATABASE", "app"),
    ];
    let options = ok(
        &[base.as_slice(), &[("PGHOST", "db.internal")]].concat(),
        None,
    );
    assert_eq!(options.password, Some(Password("from-file".into())));
    assert_eq!(
        options.password_source,
        Some(PasswordSource::PasswordFile(pgpass.clone()))
    );

    // Unix sockets and the default host match `localhost` lines.
    for host in [None, Some("/run/pg")] {
        let vars: Vec<_> = base
            .iter()
            .copied()
            .chain(host.map(|h| ("PGHOST", h)))
            .collect();
        let options = ok(&vars, None);
        assert_eq!(
            options.password,
            Some(Password("local-secret".into())),
            "{host:?}"
        );
    }

    // PGPASSWORD comes before the file; PGPASSFILE replaces ~/.pgpass.
    let options = ok(&[base.as_slice(), &[("PGPASSWORD", "env")]].concat(), None);
    assert_eq!(options.password, Some(Password("env".into())));
    let other = home.file("elsewhere", "*:*:*:*:other-file\n", 0o600);
    let other_str = other.to_str().expect("utf-8");
    let options = ok(
        &[base.as_slice(), &[("PGPASSFILE", other_str)]].concat(),
        None,
    );
    assert_eq!(options.password, Some(Password("other-file".into())));
    let options = ok(&base, Some(&format!("passfile={other_str}")));
    assert_eq!(options.password, Some(Password("other-file".into())));

    // No matching line: no password, and a note for the error message.
    let options = ok(
        &[base.as_slice(), &[("PGHOST", "elsewhere")]].concat(),
        None,
    );
    assert_eq!(options.password, None);
    assert_eq!(
        options.passfile_note,
        Some(format!(
            "no line of password file {} matches",
            pgpass.display()
        ))
    );
}

#[test]
fn a_password_file_others_can_read_is_ignored() {
    let home = TempHome::new("pgpass-open");
    home.file(".pgpass", "*:*:*:*:leaked\n", 0o640);
    let options = ok(&[("HOME", home.path())], None);
    assert_eq!(options.password, None);
    let note = options.passfile_note.expect("a note");
    assert!(note.contains("chmod 0600"), "{note}");
}

#[test]
fn passwords_never_show_in_debug_or_redacted_output() {
    let options = ok(
        &[("PGPASSWORD", "env-hunter2")],
        Some("postgres://u:url-hunter2@h/db"),
    );
    for text in [options.redacted(), format!("{options:?}")] {
        assert!(!text.contains("hunter2"), "{text}");
    }
    let bad = err(&[], Some("postgres://u:hunter2@h/db?sslmode=hunter2x"));
    assert!(bad.starts_with("invalid sslmode"), "{bad}");
    let bad = err(&[], Some("postgres://u:hunter2%@h/db"));
    assert!(!bad.contains("hunter2"), "{bad}");
}

#[test]
fn quoted_values_keep_their_spaces() {
    let options = ok(&[], Some("sslrootcert='/a b/ca.pem' sslmode=verify-ca"));
    assert_eq!(
        options.sslrootcert,
        Some(RootCerts::File("/a b/ca.pem".into()))
    );
}
