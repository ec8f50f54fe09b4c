//! `dbsplit init`: write a commented services.toml and a migrations folder per service with a
//! first migration. On a terminal it asks (database, services, roles, public schema); otherwise
//! it takes `--service NAME` (repeatable) and `--yes`. It never overwrites a file without
//! `--force`, and it checks the manifest it renders before writing anything.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};

use crate::cli::InitArgs;
use crate::manifest::{Access, Manifest, PublicSchema};
use crate::migrations::discover::discover;
use crate::migrations::scaffold::{TEMPLATE, Timestamp, next_version, render};
use crate::migrations::sum::rehash;

/// What the manifest declares.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Answers {
    database: String,
    public_schema: PublicSchema,
    /// Each service with its login roles.
    services: Vec<(String, Vec<(String, Access)>)>,
}

/// The roles a service gets unless told otherwise: the application's and the migrator's.
fn default_roles(service: &str) -> Vec<(String, Access)> {
    vec![
        (format!("{service}_rw"), Access::ReadWrite),
        (format!("{service}_migrator"), Access::Owner),
    ]
}

pub fn run(path: &Path, args: &InitArgs, out: &mut impl Write) -> anyhow::Result<ExitCode> {
    let interactive = !args.yes && std::io::stdin().is_terminal();
    if !interactive && !args.yes {
        bail!("refusing to guess without a terminal: pass --service NAME (repeatable) and --yes");
    }
    if path.exists() && !args.force {
        bail!("{} exists; pass --force to overwrite it", path.display());
    }
    let answers = if interactive {
        ask(args)?
    } else {
        if args.services.is_empty() {
            bail!("name the services with --service NAME (repeatable)");
        }
        Answers {
            database: args.database.clone(),
            public_schema: PublicSchema::Lockdown,
            services: args
                .services
                .iter()
                .map(|s| (s.clone(), default_roles(s)))
                .collect(),
        }
    };
    let text = manifest_text(&answers);
    let manifest = Manifest::parse(path, &text)
        .map_err(|errors| anyhow::anyhow!("the answers do not make a valid manifest:\n{errors}"))?;
    std::fs::write(path, &text).with_context(|| format!("cannot write {}", path.display()))?;
    writeln!(out, "wrote {}", path.display())?;
    for service in &manifest.services {
        let dir = manifest.migrations_dir().join(&service.name);
        if !discover(&dir)?.is_empty() {
            writeln!(out, "kept {}: it has migrations already", dir.display())?;
            continue;
        }
        std::fs::create_dir_all(&dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
        let at = next_version([], Timestamp::now());
        let file = dir.join(format!("{}_init.sql", at.version()));
        std::fs::write(&file, render(TEMPLATE, service, "init", at))
            .with_context(|| format!("cannot write {}", file.display()))?;
        rehash(&dir)?;
        writeln!(out, "wrote {}", file.display())?;
    }
    // The schema the manifest's `#:schema` line names, for editors; `dbsplit schema` refreshes it.
    let schema = path
        .parent()
        .unwrap_or(Path::new(""))
        .join(crate::schema::FILE_NAME);
    std::fs::write(&schema, crate::schema::render())
        .with_context(|| format!("cannot write {}", schema.display()))?;
    writeln!(out, "wrote {}", schema.display())?;
    writeln!(
        out,
        "next: `dbsplit plan` to see the changes, `dbsplit apply` to make them, then `dbsplit migrate`"
    )?;
    Ok(ExitCode::SUCCESS)
}

/// Asks on the terminal, with the flags as defaults.
fn ask(args: &InitArgs) -> anyhow::Result<Answers> {
    use dialoguer::{Input, Select};
    let failed = "the prompt failed";
    let database: String = Input::new()
        .with_prompt("Database the services share")
        .default(args.database.clone())
        .interact_text()
        .context(failed)?;
    let services: String = Input::new()
        .with_prompt("Services (comma-separated)")
        .default(args.services.join(", "))
        .interact_text()
        .context(failed)?;
    let mut answers = Answers {
        database,
        public_schema: PublicSchema::Lockdown,
        services: Vec::new(),
    };
    for service in services.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let default = default_roles(service)
            .iter()
            .map(|(role, access)| format!("{role}={}", access.as_str()))
            .collect::<Vec<_>>()
            .join(", ");
        let roles: String = Input::new()
            .with_prompt(format!(
                "Login roles of {service} (role=owner|readwrite|readonly, comma-separated)"
            ))
            .default(default)
            .interact_text()
            .context(failed)?;
        answers
            .services
            .push((service.to_string(), parse_roles(&roles)?));
    }
    let choices = [
        "lockdown: revoke CREATE on schema public from everyone",
        "drop: drop schema public when it is empty",
        "unmanaged: leave schema public alone",
    ];
    let choice = Select::new()
        .with_prompt("Schema public")
        .items(choices)
        .default(0)
        .interact()
        .context(failed)?;
    answers.public_schema = match choice {
        1 => PublicSchema::Drop,
        2 => PublicSchema::Unmanaged,
        _ => PublicSchema::Lockdown,
    };
    Ok(answers)
}

/// `role=access, ...`.
fn parse_roles(text: &str) -> anyhow::Result<Vec<(String, Access)>> {
    text.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|pair| {
            let (role, access) = pair.split_once('=').unwrap_or((pair, "readwrite"));
            let access = match access.trim() {
                "owner" => Access::Owner,
                "readwrite" => Access::ReadWrite,
                "readonly" => Access::ReadOnly,
                other => {
                    bail!("`{other}` is not an access level; use owner, readwrite or readonly")
                }
            };
            Ok((role.trim().to_string(), access))
        })
        .collect()
}

/// A TOML key: bare when it can be, else a quoted string.
fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-');
    if bare {
        name.to_string()
    } else {
        toml::Value::String(name.to_string()).to_string()
    }
}

/// The manifest, commented like services.toml.example.
fn manifest_text(answers: &Answers) -> String {
    let public = match answers.public_schema {
        PublicSchema::Lockdown => "lockdown",
        PublicSchema::Drop => "drop",
        PublicSchema::Unmanaged => "unmanaged",
    };
    let mut text = format!(
        "{}
# services.toml: which service owns which schema, and which roles each service logs in as.
# `dbsplit validate` checks this file; `dbsplit plan` shows what `dbsplit apply` would change.
version = 1

[database]
name = {}  # the database the services share
public_schema = \"{public}\"  # lockdown (revoke CREATE from PUBLIC) | drop (only if empty) | unmanaged
revoke_public_connect = true  # REVOKE CONNECT/TEMP on the database from PUBLIC; grant CONNECT to service roles
migrations_dir = \"migrations\" # one folder per service below it
",
        crate::schema::DIRECTIVE,
        toml::Value::String(answers.database.clone())
    );
    for (service, roles) in &answers.services {
        text.push_str(&format!(
            "
[services.{}]
# schema = {}  # default: the service's key
# owner = {}  # NOLOGIN role owning the schema and its objects; default \"<service>_owner\"
{}",
            key(service),
            toml::Value::String(service.clone()),
            toml::Value::String(format!("{service}_owner")),
            crate::schema::OWNER_COMMENTS,
        ));
        for (role, access) in roles {
            let comment = match access {
                Access::Owner => format!("runs `dbsplit migrate`: member of {service}_owner"),
                Access::ReadWrite => "the application: reads and writes data".to_string(),
                Access::ReadOnly => "reads data, cannot write".to_string(),
            };
            text.push_str(&format!(
                "roles.{} = {{ access = \"{}\" }}  # {comment}\n",
                key(role),
                access.as_str()
            ));
        }
        text.push_str(&format!(
            "# search_path = [{}]  # default: the service's schema alone (public is not in it)\n",
            toml::Value::String(service.clone())
        ));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    fn answers(services: &[&str]) -> Answers {
        Answers {
            database: "app".into(),
            public_schema: PublicSchema::Lockdown,
            services: services
                .iter()
                .map(|s| (s.to_string(), default_roles(s)))
                .collect(),
        }
    }

    #[test]
    fn the_manifest_is_commented_and_valid() {
        let text = manifest_text(&answers(&["billing", "monolith"]));
        insta::assert_snapshot!(text);
        let manifest = Manifest::parse(Path::new("services.toml"), &text).unwrap();
        let billing = manifest.service("billing").unwrap();
        assert_eq!(billing.owner, "billing_owner");
        let roles: Vec<(&str, Access)> = billing
            .roles
            .iter()
            .map(|r| (r.name.as_str(), r.access))
            .collect();
        assert_eq!(
            roles,
            [
                ("billing_rw", Access::ReadWrite),
                ("billing_migrator", Access::Owner)
            ]
        );
    }

    #[test]
    fn odd_names_are_quoted_and_bad_ones_fail_validation() {
        let mut odd = answers(&["billing"]);
        odd.database = "my \"app\"".into();
        odd.public_schema = PublicSchema::Unmanaged;
        odd.services[0]
            .1
            .push(("billing.ro".into(), Access::ReadOnly));
        let manifest = Manifest::parse(Path::new("s.toml"), &manifest_text(&odd)).unwrap();
        assert_eq!(manifest.database.name, "my \"app\"");
        assert_eq!(manifest.database.public_schema, PublicSchema::Unmanaged);
        assert_eq!(manifest.services[0].roles[2].name, "billing.ro");

        let bad = answers(&["pg_billing"]);
        assert!(Manifest::parse(Path::new("s.toml"), &manifest_text(&bad)).is_err());
    }

    #[test]
    fn roles_parse_with_readwrite_as_the_default_access() {
        assert_eq!(
            parse_roles("a=owner, b ,c=readonly").unwrap(),
            [
                ("a".to_string(), Access::Owner),
                ("b".to_string(), Access::ReadWrite),
                ("c".to_string(), Access::ReadOnly)
            ]
        );
        assert_eq!(
            parse_roles("a=admin").unwrap_err().to_string(),
            "`admin` is not an access level; use owner, readwrite or readonly"
        );
    }
}
