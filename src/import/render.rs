//! Writes a [`Proposal`] as a commented services.toml. Every name is written as a TOML string
//! or key with its quotes escaped, so any schema or role name makes a valid file.

use std::fmt::Write;

use super::{Proposal, ProposedObserver, ProposedRole};

/// A TOML basic string.
fn string(value: &str) -> String {
    let mut out = String::with_capacity(value.len() + 2);
    out.push('"');
    for c in value.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{:04X}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A TOML key: bare when it can be, quoted otherwise.
fn key(name: &str) -> String {
    let bare = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if bare { name.to_string() } else { string(name) }
}

fn strings(values: &[String]) -> String {
    let items: Vec<String> = values.iter().map(|v| string(v)).collect();
    format!("[{}]", items.join(", "))
}

/// Comment lines, each prefixed `# `.
fn comments(out: &mut String, notes: &[String]) {
    for note in notes {
        let _ = writeln!(out, "# {note}");
    }
}

const HEADER: &str = "\
# services.toml proposed by `dbsplit import` for the live database.
#
# One service per schema. Each login role sits in the service whose schema it writes (or, if it
# writes none, the one it reads), with the highest access that gives it nothing it lacks today;
# roles reading several schemas are observers. Applied as it is, this manifest grants no role a
# privilege it does not hold today: `dbsplit plan` shows ownership fixes and revokes, each naming
# who loses what. Every commented line is a privilege held today that apply would revoke, or a
# decision left to you: uncomment to keep it, or let apply revoke it. Then run `dbsplit plan`.
";

/// The manifest text.
pub fn render(proposal: &Proposal) -> String {
    let mut out = String::from(HEADER);
    out.push_str("version = 1\n\n[database]\n");
    let _ = writeln!(out, "name = {}", string(&proposal.database));
    out.push_str("public_schema = \"lockdown\"\n");
    let _ = writeln!(
        out,
        "revoke_public_connect = {}",
        proposal.revoke_public_connect
    );
    if !proposal.notes.is_empty() {
        out.push('\n');
        comments(&mut out, &proposal.notes);
    }

    for service in &proposal.services {
        let _ = writeln!(out, "\n[services.{}]", key(&service.schema));
        comments(&mut out, &service.notes);
        let _ = writeln!(out, "owner = {}", string(&service.owner));
        out.push_str(crate::schema::OWNER_COMMENTS);
        for role in &service.roles {
            role_line(&mut out, role);
        }
        if !service.reads.is_empty() {
            out.push_str("# Reads of other schemas today. Apply revokes them unless you uncomment one (with the\n");
            out.push_str("# brackets): every role of this service and its owner then read all of that schema.\n");
            out.push_str("# reads = [\n");
            for read in &service.reads {
                let _ = writeln!(
                    out,
                    "#     {{ schema = {}, reason = {} }},",
                    string(&read.schema),
                    string(&read.reason)
                );
            }
            out.push_str("# ]\n");
        }
    }

    for shared in &proposal.shared {
        let _ = writeln!(out, "\n[shared.{}]", key(&shared.schema));
        comments(&mut out, &shared.notes);
        let _ = writeln!(out, "owner = {}", string(&shared.owner));
    }

    for observer in &proposal.observers {
        observer_table(&mut out, observer);
    }
    out
}

fn role_line(out: &mut String, role: &ProposedRole) {
    let mut fields = vec![format!("access = {}", string(role.access.as_str()))];
    if let Some(limit) = role.connection_limit {
        fields.push(format!("connection_limit = {limit}"));
    }
    if !role.member_of.is_empty() {
        fields.push(format!("member_of = {}", strings(&role.member_of)));
    }
    let line = format!("roles.{} = {{ {} }}", key(&role.name), fields.join(", "));
    match &role.left_out {
        Some(why) => {
            let _ = writeln!(out, "# {line}  # {why}");
        }
        None => {
            let _ = writeln!(out, "{line}");
        }
    }
    for note in &role.notes {
        let _ = writeln!(out, "#   {}: {note}", role.name);
    }
}

fn observer_table(out: &mut String, observer: &ProposedObserver) {
    let prefix = if observer.left_out.is_some() {
        "# "
    } else {
        ""
    };
    out.push('\n');
    if let Some(why) = &observer.left_out {
        let _ = writeln!(out, "# {why}");
    }
    comments(out, &observer.notes);
    let _ = writeln!(out, "{prefix}[observers.{}]", key(&observer.name));
    let reads = match &observer.reads {
        None => strings(&["*".to_string()]),
        Some(schemas) => strings(schemas),
    };
    let _ = writeln!(out, "{prefix}reads = {reads}");
    let _ = writeln!(out, "{prefix}reason = {}", string(&observer.reason));
    if observer.login {
        let _ = writeln!(out, "{prefix}login = true");
    }
    if let Some(limit) = observer.connection_limit {
        let _ = writeln!(out, "{prefix}connection_limit = {limit}");
    }
}
