//! Turns a raw manifest into a [`Manifest`]: fills in defaults and checks names and references.
//!
//! Every rule adds a diagnostic and carries on, so one run reports all problems of a file. The
//! rules: identifiers are non-empty, at most 63 bytes and free of control characters; reserved
//! schema and role names are refused; no schema or role is declared twice (a role in two services
//! included); `reads` and `search_path` name declared schemas only; a `pool_size` times the
//! pooler's instances fits the role's `connection_limit`; passwords come from
//! environment variables.

use std::collections::HashMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use super::diagnostic::{Diagnostic, line_column};
use super::raw::{RawManifest, RawObserver, RawPooler, RawService, RawShared, Sp};

mod placement;
use super::{
    Access, DatabaseSettings, Manifest, Observer, PoolMode, Pooler, PoolerAuth, PublicSchema, Read,
    Service, ServiceRole, SharedSchema,
};

/// PostgreSQL keeps at most NAMEDATALEN - 1 bytes of a name and silently truncates the rest.
const MAX_IDENTIFIER_BYTES: usize = 63;

/// Predefined roles that reach every schema: never in a service role's `member_of`.
pub const EVERYTHING_ROLES: &[&str] = &[
    "pg_read_all_data",
    "pg_write_all_data",
    "pg_read_server_files",
    "pg_write_server_files",
    "pg_execute_server_program",
];

/// Role names PostgreSQL reserves (see `check_rolespec` and `CreateRole` in its sources).
const RESERVED_ROLES: &[&str] = &[
    "public",
    "none",
    "current_user",
    "current_role",
    "session_user",
];

pub fn validate(
    path: &Path,
    raw: RawManifest,
    source: &str,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Manifest> {
    let mut v = Validator {
        source,
        diagnostics,
        roles: HashMap::new(),
        schemas: HashMap::new(),
        warnings: Vec::new(),
        instances: 1,
        cluster: None,
        role_clusters: HashMap::new(),
    };
    v.version(&raw);
    let fleet = raw.clusters.is_some() || raw.databases.is_some();
    let (database, clusters, databases) = if fleet {
        let (clusters, databases) = v.fleet(&raw);
        let first = databases.first().map(|d| d.settings.clone());
        (first, clusters, databases)
    } else {
        if let Some(dir) = &raw.migrations_dir {
            v.error(
                dir.span.clone(),
                "a top-level `migrations_dir` belongs to a manifest with [databases.*]".into(),
                Some("move it into [database]".into()),
            );
        }
        let database = v.database(&raw);
        let (clusters, databases) = placement::single(database.as_ref());
        (database, clusters, databases)
    };
    let pooler = raw.pooler.as_ref().map(|p| v.pooler(p));
    v.instances = pooler.as_ref().map_or(1, |p| p.instances);
    let checked: Vec<Option<Service>> = raw
        .services
        .iter()
        .map(|s| {
            let what = format!("service `{}`", s.key.value);
            let placed = v.place(s.database.as_ref(), &s.key, &what, &raw, &databases);
            v.cluster = placed.as_ref().map(|p| p.1.clone());
            let service = v.service(s);
            v.cluster = None;
            Some(Service {
                database: placed?.0,
                ..service?
            })
        })
        .collect();
    let shared: Vec<SharedSchema> = raw
        .shared
        .iter()
        .filter_map(|s| {
            let what = format!("shared schema `{}`", s.key.value);
            let placed = v.place(s.database.as_ref(), &s.key, &what, &raw, &databases);
            v.cluster = placed.as_ref().map(|p| p.1.clone());
            let shared = v.shared(s);
            v.cluster = None;
            Some(SharedSchema {
                database: placed?.0,
                ..shared?
            })
        })
        .collect();
    let services: Vec<Service> = checked.iter().flatten().cloned().collect();
    let all_schemas: Vec<String> = services
        .iter()
        .map(|s| s.schema.clone())
        .chain(shared.iter().map(|s| s.schema.clone()))
        .collect();
    let observers: Vec<Observer> = raw
        .observers
        .iter()
        .filter_map(|o| v.observer(o, &all_schemas))
        .collect();
    for raw in &raw.services {
        v.references(raw, &services, &shared, database.as_ref());
        v.across_databases(raw, &services, &shared, &databases);
    }
    if let Some(pooler) = &raw.pooler {
        let pooled = services
            .iter()
            .flat_map(|s| &s.roles)
            .any(|r| r.pool_size.is_some());
        if !pooled {
            v.error(
                pooler.span.start..pooler.span.start,
                "[pooler] is declared but no role has a `pool_size`".into(),
                Some("give the roles that connect through PgBouncer a pool_size, e.g. roles.billing_rw = { access = \"readwrite\", pool_size = 10 }, or remove [pooler]".into()),
            );
        }
    }
    let warnings = v
        .warnings
        .iter()
        .map(|(span, message)| {
            let (line, column) = line_column(source, span.start);
            format!("{}:{line}:{column}: warning: {message}", path.display())
        })
        .collect();
    Some(Manifest {
        path: path.to_path_buf(),
        database: database?,
        services,
        shared,
        observers,
        pooler,
        warnings,
        fleet,
        clusters,
        databases,
    })
}

struct Validator<'a> {
    source: &'a str,
    diagnostics: &'a mut Vec<Diagnostic>,
    /// Every declared role: name -> (span, what declared it).
    roles: HashMap<String, (Range<usize>, String)>,
    /// Every declared schema: name -> (span, what declared it).
    schemas: HashMap<String, (Range<usize>, String)>,
    /// Allowed, but probably a mistake: (span, message).
    warnings: Vec<(Range<usize>, String)>,
    /// PgBouncer instances (`[pooler] instances`; 1 without a pooler): each opens its own pools.
    instances: u32,
    /// The cluster of the service or shared schema being checked, when its placement is known.
    cluster: Option<String>,
    /// Role -> the cluster of the service that declared it.
    role_clusters: HashMap<String, String>,
}

impl Validator<'_> {
    fn error(&mut self, span: Range<usize>, message: String, help: Option<String>) {
        let mut diagnostic = Diagnostic::new(span, message);
        diagnostic.help = help;
        self.diagnostics.push(diagnostic);
    }

    fn version(&mut self, raw: &RawManifest) {
        match &raw.version {
            Some(version) if version.value == 1 => {}
            Some(version) => self.error(
                version.span.clone(),
                format!("unsupported manifest version {}", version.value),
                Some("this dbsplit reads version = 1".into()),
            ),
            None if raw.version_present => {}
            None => self.error(
                0..0,
                "missing `version`".into(),
                Some("add `version = 1` at the top of the file".into()),
            ),
        }
    }

    fn database(&mut self, raw: &RawManifest) -> Option<DatabaseSettings> {
        let Some(db) = &raw.database else {
            self.error(
                0..0,
                "missing the [database] table".into(),
                Some("add [database] with name = \"app\" (the database the services share)".into()),
            );
            return None;
        };
        let name = match &db.name {
            Some(name) => self.identifier(name, "database name"),
            None if db.name_present => None,
            None => {
                self.error(
                    db.span.clone(),
                    "missing `name` in [database]".into(),
                    Some("add name = \"app\": the database the services share".into()),
                );
                None
            }
        };
        let public_schema = self.public_schema(db.public_schema.as_ref());
        let migrations_dir = self.migrations_dir(db.migrations_dir.as_ref());
        Some(DatabaseSettings {
            name: name?,
            public_schema,
            revoke_public_connect: db.revoke_public_connect.as_ref().is_none_or(|b| b.value),
            migrations_dir,
        })
    }

    /// `public_schema`: lockdown (the default), drop or unmanaged.
    fn public_schema(&mut self, raw: Option<&Sp<String>>) -> PublicSchema {
        match raw.map(|p| (p.value.as_str(), p)) {
            None | Some(("lockdown", _)) => PublicSchema::Lockdown,
            Some(("drop", _)) => PublicSchema::Drop,
            Some(("unmanaged", _)) => PublicSchema::Unmanaged,
            Some((other, p)) => {
                self.error(
                    p.span.clone(),
                    format!("unknown public_schema `{other}`"),
                    Some("write \"lockdown\", \"drop\" or \"unmanaged\"".into()),
                );
                PublicSchema::Lockdown
            }
        }
    }

    /// `migrations_dir`, as written; `migrations` unless given.
    fn migrations_dir(&mut self, raw: Option<&Sp<String>>) -> PathBuf {
        match raw {
            Some(dir) if dir.value.trim().is_empty() => {
                self.error(
                    dir.span.clone(),
                    "`migrations_dir` is empty".into(),
                    Some("write migrations_dir = \"migrations\"".into()),
                );
                PathBuf::from("migrations")
            }
            Some(dir) => PathBuf::from(&dir.value),
            None => PathBuf::from("migrations"),
        }
    }

    fn service(&mut self, raw: &RawService) -> Option<Service> {
        let name = self.identifier(&raw.key, "service name");
        let key = &raw.key.value;
        let (schema, owner) = self.schema_and_owner(
            &raw.key,
            name.is_some(),
            raw.schema.as_ref(),
            raw.owner.as_ref(),
            &format!("service `{key}`"),
        );
        let mut roles = Vec::new();
        for role in &raw.roles {
            let role_name = self.role_name(&role.name, &format!("a role of service `{key}`"));
            let access = match &role.access {
                Some(access) => match access.value.as_str() {
                    "owner" => Some(Access::Owner),
                    "readwrite" => Some(Access::ReadWrite),
                    "readonly" => Some(Access::ReadOnly),
                    other => {
                        self.error(
                            access.span.clone(),
                            format!("unknown access `{other}` for role `{}`", role.name.value),
                            Some("write \"owner\", \"readwrite\" or \"readonly\"".into()),
                        );
                        None
                    }
                },
                None if role.access_present => None,
                None => {
                    self.error(
                        role.name.span.clone(),
                        format!("role `{}` has no `access`", role.name.value),
                        Some(format!(
                            "write roles.{} = {{ access = \"readwrite\" }} (or \"readonly\", \"owner\")",
                            role.name.value
                        )),
                    );
                    None
                }
            };
            let password_env = self.password_env(role.password_env.as_ref());
            let connection_limit = self.connection_limit(role.connection_limit.as_ref());
            let password_version = self.password_version(
                role.password_version.as_ref(),
                role.password_env.is_some(),
                &role.name.value,
            );
            let member_of = self.member_of(role.member_of.as_ref(), &role.name.value);
            let pool_size =
                self.pool_size(role.pool_size.as_ref(), connection_limit, &role.name.value);
            if let (Some(name), Some(access)) = (role_name, access) {
                roles.push(ServiceRole {
                    name,
                    access,
                    password_env,
                    connection_limit,
                    password_version,
                    member_of,
                    pool_size,
                });
            }
        }
        let search_path = match &raw.search_path {
            Some(path) => {
                if path.value.is_empty() {
                    self.error(
                        path.span.clone(),
                        "`search_path` is empty".into(),
                        Some(format!("write search_path = [\"{key}\"] or leave it out")),
                    );
                }
                path.value
                    .iter()
                    .filter_map(|entry| self.identifier(entry, "search_path entry"))
                    .collect()
            }
            None => schema.iter().cloned().collect(),
        };
        let mut reads = Vec::new();
        for read in &raw.reads {
            let schema = match &read.schema {
                Some(schema) => self.identifier(schema, "schema"),
                None => {
                    self.error(
                        read.span.clone(),
                        "a read without `schema`".into(),
                        Some(r#"write { schema = "reference", reason = "why" }"#.into()),
                    );
                    None
                }
            };
            let reason = self.reason(read.reason.as_ref(), read.span.clone());
            if let (Some(schema), Some(reason)) = (schema, reason) {
                reads.push(Read { schema, reason });
            }
        }
        let team = raw.team.as_ref().and_then(|team| self.team(team));
        let contact = raw
            .contact
            .as_ref()
            .and_then(|contact| self.contact(contact));
        Some(Service {
            name: name?,
            schema: schema?,
            owner: owner?,
            roles,
            search_path,
            reads,
            team,
            contact,
            database: String::new(),
        })
    }

    fn shared(&mut self, raw: &RawShared) -> Option<SharedSchema> {
        let key = &raw.key.value;
        let name = self.identifier(&raw.key, "shared schema name");
        let (schema, owner) = self.schema_and_owner(
            &raw.key,
            name.is_some(),
            raw.schema.as_ref(),
            raw.owner.as_ref(),
            &format!("shared schema `{key}`"),
        );
        Some(SharedSchema {
            name: name?,
            schema: schema?,
            owner: owner?,
            database: String::new(),
        })
    }

    /// The schema and owner of a service or shared schema: as written, or derived from its key
    /// (`<key>` and `<key>_owner`). When the key itself is bad, only the key is reported.
    fn schema_and_owner(
        &mut self,
        key: &Sp<String>,
        key_ok: bool,
        schema: Option<&Sp<String>>,
        owner: Option<&Sp<String>>,
        what: &str,
    ) -> (Option<String>, Option<String>) {
        let schema_what = format!("the schema of {what}");
        let schema = match schema {
            Some(schema) => self.schema_name(schema, &schema_what),
            None if key_ok => self.schema_name(key, &schema_what),
            None => None,
        };
        let owner_what = format!("the owner of {what}");
        let owner = match owner {
            Some(owner) => self.role_name(owner, &owner_what),
            None if key_ok => self.role_name(
                &Sp {
                    value: format!("{}_owner", key.value),
                    span: key.span.clone(),
                },
                &owner_what,
            ),
            None => None,
        };
        (schema, owner)
    }

    fn observer(&mut self, raw: &RawObserver, all_schemas: &[String]) -> Option<Observer> {
        let key = &raw.key.value;
        let name = self.role_name(&raw.key, &format!("observer `{key}`"));
        let reads = match &raw.reads {
            None => {
                self.error(
                    raw.key.span.clone(),
                    format!("observer `{key}` has no `reads`"),
                    Some("write reads = [\"*\"] (every schema) or a list of schemas".into()),
                );
                Vec::new()
            }
            Some(reads) if reads.value.iter().any(|r| r.value == "*") => {
                if reads.value.len() > 1 {
                    self.error(
                        reads.span.clone(),
                        "`*` already means every schema".into(),
                        Some("write reads = [\"*\"] alone, or list the schemas".into()),
                    );
                }
                all_schemas.to_vec()
            }
            Some(reads) => {
                if reads.value.is_empty() {
                    self.error(
                        reads.span.clone(),
                        format!("observer `{key}` reads nothing"),
                        Some("list the schemas it reads, or \"*\"".into()),
                    );
                }
                let mut schemas = Vec::new();
                for schema in &reads.value {
                    if all_schemas.contains(&schema.value) {
                        schemas.push(schema.value.clone());
                    } else if !self.schemas.contains_key(&schema.value) {
                        // A declared schema whose service has errors of its own is not
                        // reported again here.
                        self.undeclared_schema(schema);
                    }
                }
                schemas
            }
        };
        let reason = self.reason(raw.reason.as_ref(), raw.key.span.clone());
        let login = raw.login.as_ref().is_some_and(|l| l.value);
        let password_env = self.password_env(raw.password_env.as_ref());
        let connection_limit = self.connection_limit(raw.connection_limit.as_ref());
        let password_version = self.password_version(
            raw.password_version.as_ref(),
            raw.password_env.is_some(),
            key,
        );
        if !login {
            for span in [
                raw.password_env.as_ref().map(|p| p.span.clone()),
                raw.connection_limit.as_ref().map(|c| c.span.clone()),
                raw.password_version.as_ref().map(|c| c.span.clone()),
            ]
            .into_iter()
            .flatten()
            {
                self.error(
                    span,
                    format!("observer `{key}` cannot log in, so this setting has no effect"),
                    Some("add login = true, or remove the setting".into()),
                );
            }
        }
        Some(Observer {
            name: name?,
            reads,
            reason: reason?,
            login,
            password_env,
            connection_limit,
            password_version,
        })
    }

    /// Checks what needs every service first: `reads` and `search_path` point at declared schemas.
    fn references(
        &mut self,
        raw: &RawService,
        services: &[Service],
        shared: &[SharedSchema],
        database: Option<&DatabaseSettings>,
    ) {
        let name = &raw.key.value;
        for role in &raw.roles {
            for group in role.member_of.iter().flat_map(|g| g.value.iter()) {
                if self.roles.contains_key(&group.value) {
                    self.error(
                        group.span.clone(),
                        format!(
                            "member_of of `{}` names `{}`, a role of this manifest",
                            role.name.value, group.value
                        ),
                        Some("member_of keeps memberships in roles outside the manifest; `access` says who may act as a service's roles".into()),
                    );
                }
            }
        }
        let own_schema = raw.schema.as_ref().unwrap_or(&raw.key).value.as_str();
        for read in raw.reads.iter().filter_map(|r| r.schema.as_ref()) {
            // Declared: valid, or with errors of its own (not reported again here).
            let declared = services.iter().any(|s| s.schema == read.value)
                || shared.iter().any(|s| s.schema == read.value)
                || self.schemas.contains_key(&read.value);
            if read.value == own_schema {
                self.error(
                    read.span.clone(),
                    format!("service `{name}` reads its own schema"),
                    Some("remove this read: a service always reads its own schema".into()),
                );
            } else if !declared {
                self.undeclared_schema(read);
            }
        }
        let Some(path) = &raw.search_path else { return };
        for entry in &path.value {
            let schema = entry.value.as_str();
            let is_other_service =
                schema != own_schema && services.iter().any(|s| s.schema == schema);
            let is_read = raw
                .reads
                .iter()
                .any(|r| r.schema.as_ref().is_some_and(|s| s.value == schema));
            if is_other_service && !is_read {
                self.error(
                    entry.span.clone(),
                    format!("search_path of service `{name}` names `{schema}`, another service's schema"),
                    Some(format!(
                        "remove it, or declare the read: reads = [{{ schema = \"{schema}\", reason = \"...\" }}]"
                    )),
                );
            }
            let drops_public = database.is_some_and(|d| d.public_schema == PublicSchema::Drop);
            if schema == crate::pg::PUBLIC_SCHEMA && !drops_public {
                self.warnings.push((
                    entry.span.clone(),
                    format!("search_path of service `{name}` names `public`: its roles resolve unqualified names in a schema every role can use; leave `public` out"),
                ));
            }
            if schema == crate::pg::PUBLIC_SCHEMA && drops_public {
                self.error(
                    entry.span.clone(),
                    "search_path names `public`, which public_schema = \"drop\" removes".into(),
                    Some("remove `public` from search_path".into()),
                );
            }
        }
    }

    fn undeclared_schema(&mut self, schema: &Sp<String>) {
        let mut declared: Vec<&str> = self.schemas.keys().map(String::as_str).collect();
        declared.sort_unstable();
        self.error(
            schema.span.clone(),
            format!("schema `{}` is not declared", schema.value),
            Some(format!(
                "declare it as a service or as [shared.{}]; declared schemas: {}",
                schema.value,
                declared.join(", ")
            )),
        );
    }

    /// A service's `team`: a CODEOWNERS owner (`@org/team`, `@user` or an email address).
    fn team(&mut self, team: &Sp<String>) -> Option<String> {
        if is_code_owner(&team.value) {
            return Some(team.value.clone());
        }
        self.error(
            team.span.clone(),
            format!(
                "team `{}` is not a GitHub team, user or email address",
                team.value.escape_debug()
            ),
            Some(
                r#"write team = "@org/team" (or "@user", or "name@example.com"), as CODEOWNERS names owners"#
                    .into(),
            ),
        );
        None
    }

    /// A service's `contact`: free text, on one line, not empty.
    fn contact(&mut self, contact: &Sp<String>) -> Option<String> {
        let value = &contact.value;
        let problem = if value.trim().is_empty() {
            "`contact` is empty".to_string()
        } else if value.chars().any(char::is_control) {
            format!(
                "contact `{}` contains a control character",
                value.escape_debug()
            )
        } else if value.chars().count() > MAX_CONTACT_CHARS {
            format!("contact is longer than {MAX_CONTACT_CHARS} characters")
        } else {
            return Some(value.trim().to_string());
        };
        self.error(
            contact.span.clone(),
            problem,
            Some(r##"write one line, e.g. contact = "#billing-oncall on Slack""##.into()),
        );
        None
    }

    fn reason(&mut self, reason: Option<&Sp<String>>, fallback: Range<usize>) -> Option<String> {
        match reason {
            Some(reason) if !reason.value.trim().is_empty() => Some(reason.value.clone()),
            Some(reason) => {
                self.error(
                    reason.span.clone(),
                    "`reason` is empty".into(),
                    Some("say why this access is allowed; audit reports it".into()),
                );
                None
            }
            None => {
                self.error(
                    fallback,
                    "missing `reason`".into(),
                    Some(
                        "add reason = \"...\": say why this access is allowed; audit reports it"
                            .into(),
                    ),
                );
                None
            }
        }
    }

    fn password_env(&mut self, env: Option<&Sp<String>>) -> Option<String> {
        let env = env?;
        let valid = env
            .value
            .chars()
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
            && env
                .value
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if valid {
            Some(env.value.clone())
        } else {
            // Not a name: maybe the password itself, so neither quoted nor shown.
            let diagnostic = Diagnostic::new(
                env.span.clone(),
                "`password_env` is not an environment variable name (its value is not shown: it may be a password)",
            )
            .help("name the variable that holds the password, e.g. \"BILLING_DB_PASSWORD\"")
            .secret(env.span.clone());
            self.diagnostics.push(diagnostic);
            None
        }
    }

    /// `password_version`: a positive number, next to a `password_env` it versions.
    fn password_version(
        &mut self,
        version: Option<&Sp<i64>>,
        has_env: bool,
        role: &str,
    ) -> Option<u32> {
        let version = version?;
        match u32::try_from(version.value) {
            Ok(value) if value >= 1 => {
                if !has_env {
                    self.error(
                        version.span.clone(),
                        format!("`password_version` of `{role}` versions no password"),
                        Some("add password_env = \"...\" (the variable holding the password), or remove password_version".into()),
                    );
                    return None;
                }
                Some(value)
            }
            _ => {
                self.error(
                    version.span.clone(),
                    format!("password_version {} is out of range", version.value),
                    Some(
                        "write a positive number and raise it each time the password changes"
                            .into(),
                    ),
                );
                None
            }
        }
    }

    /// `member_of`: roles outside the manifest, never one that reaches every schema.
    fn member_of(&mut self, groups: Option<&Sp<Vec<Sp<String>>>>, role: &str) -> Vec<String> {
        let mut out = Vec::new();
        for group in groups.map(|g| g.value.as_slice()).unwrap_or_default() {
            let Some(name) = self.identifier(group, "member_of entry") else {
                continue;
            };
            if EVERYTHING_ROLES.contains(&name.as_str()) {
                self.error(
                    group.span.clone(),
                    format!("`{name}` reaches every schema; service role `{role}` may not be a member of it"),
                    Some(format!(
                        "remove it: {} cross every service's boundary (pg_signal_backend is allowed)",
                        EVERYTHING_ROLES.join(", ")
                    )),
                );
                continue;
            }
            if out.contains(&name) {
                self.error(
                    group.span.clone(),
                    format!("`{name}` is named twice in member_of of `{role}`"),
                    Some("name each role once".into()),
                );
                continue;
            }
            out.push(name);
        }
        out
    }

    /// `[pooler]` with its defaults: one instance, transaction pooling, port 6432, a userlist.
    fn pooler(&mut self, raw: &RawPooler) -> Pooler {
        let instances = match &raw.instances {
            None => 1,
            Some(n) => {
                match u32::try_from(n.value) {
                    Ok(value) if (1..=1000).contains(&value) => value,
                    _ => {
                        self.error(
                        n.span.clone(),
                        format!("instances {} is out of range", n.value),
                        Some("write how many PgBouncer processes run this configuration, at least 1".into()),
                    );
                        1
                    }
                }
            }
        };
        let pool_mode = match raw.pool_mode.as_ref().map(|m| (m.value.as_str(), m)) {
            None | Some(("transaction", _)) => PoolMode::Transaction,
            Some(("session", _)) => PoolMode::Session,
            Some(("statement", _)) => PoolMode::Statement,
            Some((other, m)) => {
                self.error(
                    m.span.clone(),
                    format!("unknown pool_mode `{other}`"),
                    Some("write \"session\", \"transaction\" or \"statement\"".into()),
                );
                PoolMode::Transaction
            }
        };
        let listen_port = match &raw.listen_port {
            None => 6432,
            Some(port) => {
                match u16::try_from(port.value) {
                    Ok(value) if value >= 1 => value,
                    _ => {
                        self.error(
                        port.span.clone(),
                        format!("listen_port {} is out of range", port.value),
                        Some("write a TCP port between 1 and 65535; PgBouncer's usual one is 6432".into()),
                    );
                        6432
                    }
                }
            }
        };
        let auth = match raw.auth.as_ref().map(|a| (a.value.as_str(), a)) {
            None | Some(("userlist", _)) => PoolerAuth::Userlist,
            Some(("auth_query", _)) => PoolerAuth::AuthQuery,
            Some((other, a)) => {
                self.error(
                    a.span.clone(),
                    format!("unknown pooler auth `{other}`"),
                    Some("write \"userlist\" or \"auth_query\"".into()),
                );
                PoolerAuth::Userlist
            }
        };
        Pooler {
            instances,
            pool_mode,
            listen_port,
            auth,
        }
    }

    /// `pool_size`: a positive number of server connections per PgBouncer instance, whose total
    /// over every instance fits the role's `connection_limit`.
    fn pool_size(
        &mut self,
        size: Option<&Sp<i64>>,
        connection_limit: Option<i32>,
        role: &str,
    ) -> Option<u32> {
        let size = size?;
        let value = match u32::try_from(size.value) {
            Ok(value) if (1..=100_000).contains(&value) => value,
            _ => {
                self.error(
                    size.span.clone(),
                    format!("pool_size {} is out of range", size.value),
                    Some("write the number of server connections PgBouncer keeps for this role, at least 1".into()),
                );
                return None;
            }
        };
        let total = u64::from(value) * u64::from(self.instances);
        if let Some(limit) = connection_limit.filter(|l| *l >= 0)
            && total > limit as u64
        {
            let instances = self.instances;
            let message = if instances == 1 {
                format!("pool_size {value} exceeds connection_limit {limit} of `{role}`")
            } else {
                format!(
                    "pool_size {value} × {instances} instances = {total} server connections exceed connection_limit {limit} of `{role}`"
                )
            };
            self.error(
                size.span.clone(),
                message,
                Some(format!(
                    "lower pool_size to at most {} or raise connection_limit to at least {total}",
                    limit as u64 / u64::from(instances)
                )),
            );
        }
        Some(value)
    }

    fn connection_limit(&mut self, limit: Option<&Sp<i64>>) -> Option<i32> {
        let limit = limit?;
        match i32::try_from(limit.value) {
            Ok(value) if value >= -1 => Some(value),
            _ => {
                self.error(
                    limit.span.clone(),
                    format!("connection_limit {} is out of range", limit.value),
                    Some("write a number of connections, or -1 for no limit".into()),
                );
                None
            }
        }
    }

    /// A name PostgreSQL can hold as written: non-empty, at most 63 bytes, no control characters.
    fn identifier(&mut self, name: &Sp<String>, what: &str) -> Option<String> {
        let value = &name.value;
        let problem = if value.is_empty() {
            Some(format!("{what} is empty"))
        } else if value.len() > MAX_IDENTIFIER_BYTES {
            Some(format!(
                "{what} `{value}` is {} bytes long; PostgreSQL would cut it to {MAX_IDENTIFIER_BYTES}",
                value.len()
            ))
        } else if value.chars().any(char::is_control) {
            Some(format!(
                "{what} `{}` contains a control character",
                value.escape_debug()
            ))
        } else {
            None
        };
        match problem {
            Some(message) => {
                self.error(
                    name.span.clone(),
                    message,
                    Some(format!(
                        "use a non-empty name of at most {MAX_IDENTIFIER_BYTES} bytes without control characters"
                    )),
                );
                None
            }
            None => Some(value.clone()),
        }
    }

    fn schema_name(&mut self, name: &Sp<String>, what: &str) -> Option<String> {
        let value = self.identifier(name, "schema name")?;
        let lower = value.to_lowercase();
        if lower.starts_with("pg_")
            || lower == "information_schema"
            || value == crate::pg::PUBLIC_SCHEMA
        {
            self.error(
                name.span.clone(),
                format!("schema name `{value}` is reserved"),
                Some(
                    "pick another name (pg_*, information_schema and public belong to PostgreSQL)"
                        .into(),
                ),
            );
            return None;
        }
        self.declare(&value, name.span.clone(), what, true)
    }

    fn role_name(&mut self, name: &Sp<String>, what: &str) -> Option<String> {
        let value = self.identifier(name, "role name")?;
        if value.starts_with("pg_") || RESERVED_ROLES.contains(&value.to_lowercase().as_str()) {
            self.error(
                name.span.clone(),
                format!("role name `{value}` is reserved"),
                Some("pick another name (pg_* and PUBLIC, NONE, CURRENT_USER... belong to PostgreSQL)".into()),
            );
            return None;
        }
        self.declare(&value, name.span.clone(), what, false)
    }

    /// Records a schema or role, refusing a second declaration of the same name.
    fn declare(
        &mut self,
        name: &str,
        span: Range<usize>,
        what: &str,
        schema: bool,
    ) -> Option<String> {
        let registry = if schema {
            &mut self.schemas
        } else {
            &mut self.roles
        };
        if let Some((first, first_what)) = registry.get(name).cloned() {
            let (line, column) = line_column(self.source, first.start);
            let clusters = (self.cluster.as_ref(), self.role_clusters.get(name));
            if let (false, Some(here), Some(there)) = (schema, clusters.0, clusters.1)
                && here != there
            {
                let message = format!(
                    "role `{name}` is used on two clusters for different services: as {what} on cluster `{here}` and as {first_what} on cluster `{there}` (line {line}, column {column})"
                );
                self.error(
                    span,
                    message,
                    Some("a role name means one service across the fleet (audit, pooler and move find a service by its roles); rename one of them".into()),
                );
                return None;
            }
            let kind = if schema { "schema" } else { "role" };
            self.error(
                span,
                format!("{kind} `{name}` is declared twice: as {what} and as {first_what} (line {line}, column {column})"),
                Some(format!("each {kind} belongs to one service; rename one of them")),
            );
            return None;
        }
        registry.insert(name.to_string(), (span, what.to_string()));
        if let (false, Some(cluster)) = (schema, &self.cluster) {
            self.role_clusters.insert(name.to_string(), cluster.clone());
        }
        Some(name.to_string())
    }
}

/// The longest `contact` accepted.
const MAX_CONTACT_CHARS: usize = 200;

/// Whether `owner` is a CODEOWNERS owner: `@user` or `@org/team` (GitHub's characters: an
/// organisation or user of letters, digits and single inner hyphens, up to 39; a team slug of
/// letters, digits, `-` and `_`), or an email address.
pub fn is_code_owner(owner: &str) -> bool {
    fn account(name: &str) -> bool {
        (1..=39).contains(&name.len())
            && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
            && !name.starts_with('-')
            && !name.ends_with('-')
            && !name.contains("--")
    }
    fn slug(name: &str) -> bool {
        (1..=100).contains(&name.len())
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    }
    if let Some(handle) = owner.strip_prefix('@') {
        return match handle.split_once('/') {
            Some((org, team)) => account(org) && slug(team),
            None => account(handle),
        };
    }
    match owner.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && owner.chars().all(|c| {
                    c.is_ascii_graphic()
                        && !matches!(c, '<' | '>' | '(' | ')' | ',' | ';' | '"' | '\\')
                })
                && !domain.contains('@')
        }
        None => false,
    }
}
