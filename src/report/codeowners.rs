//! CODEOWNERS lines from the manifest's `team` keys
//! (https://docs.github.com/repositories/managing-your-repositorys-settings-and-features/customizing-your-repository/about-code-owners):
//! each service's migrations folder belongs to its team, the manifest to every team named.

use std::io::{self, Write};
use std::path::{Component, Path};

use crate::manifest::Manifest;

/// Writes the CODEOWNERS lines. `manifest_path` and `migrations` (the migrations folder) are
/// given relative to the repository root; services without a team get a comment saying so.
pub fn codeowners(
    manifest: &Manifest,
    manifest_path: &Path,
    migrations: &Path,
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(
        out,
        "# Written by `dbsplit codeowners` from {}: each service's migrations belong to its team,",
        pattern(manifest_path)
    )?;
    writeln!(
        out,
        "# the manifest to every team. Regenerate it when teams change."
    )?;
    let mut teams: Vec<&str> = Vec::new();
    for service in &manifest.services {
        if let Some(team) = &service.team
            && !teams.contains(&team.as_str())
        {
            teams.push(team);
        }
    }
    writeln!(out, "{} {}", pattern(manifest_path), teams.join(" "))?;
    for service in &manifest.services {
        let folder = format!("{}/", pattern(&migrations.join(&service.name)));
        match &service.team {
            Some(team) => writeln!(out, "{folder} {team}")?,
            None => writeln!(out, "# {folder}: service {} has no team", service.name)?,
        }
    }
    Ok(())
}

/// A path as a CODEOWNERS pattern anchored at the root: `/db/services.toml`, spaces escaped.
pub fn pattern(path: &Path) -> String {
    let parts: Vec<String> = path
        .components()
        .filter(|c| !matches!(c, Component::CurDir))
        .map(|c| c.as_os_str().to_string_lossy().replace(' ', "\\ "))
        .collect();
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    const MANIFEST: &str = r##"version = 1

[database]
name = "app"

[services.billing]
team = "@acme/billing"
contact = "#billing-oncall on Slack"
roles.billing_rw = { access = "readwrite" }

[services.notifications]
team = "@acme/platform"

[services.monolith]
roles.monolith_rw = { access = "readwrite" }

[services.search]
team = "search-team@acme.example"

[services.ledger]
team = "@acme/platform"
"##;

    fn parse(text: &str) -> Result<Manifest, String> {
        Manifest::parse(Path::new("db/services.toml"), text).map_err(|e| e.to_string())
    }

    #[test]
    fn each_migrations_folder_goes_to_its_team_and_the_manifest_to_all() {
        let manifest = parse(MANIFEST).unwrap();
        let billing = manifest.service("billing").unwrap();
        assert_eq!(billing.team.as_deref(), Some("@acme/billing"));
        assert_eq!(billing.contact.as_deref(), Some("#billing-oncall on Slack"));
        assert_eq!(manifest.service("monolith").unwrap().team, None);
        let mut out = Vec::new();
        codeowners(
            &manifest,
            Path::new("./db/services.toml"),
            Path::new("db/migrations"),
            &mut out,
        )
        .unwrap();
        insta::assert_snapshot!(String::from_utf8(out).unwrap());
    }

    #[test]
    fn teams_must_be_code_owners_and_contacts_one_line() {
        let header = "version = 1\n[database]\nname = \"app\"\n";
        for good in [
            "@acme/billing",
            "@acme/team_2-x",
            "@octocat",
            "@a-b/c",
            "dev@acme.example",
        ] {
            let text = format!("{header}[services.a]\nteam = \"{good}\"\n");
            assert!(parse(&text).is_ok(), "{good}: {:?}", parse(&text).err());
        }
        for bad in [
            "",
            "billing",
            "@",
            "@acme/",
            "@/team",
            "@-acme/team",
            "@acme/bill ing",
            "@acme/billing/x",
            "@acme--x/team",
            "dev@localhost",
            "a b@acme.example",
        ] {
            let text = format!("{header}[services.a]\nteam = \"{bad}\"\n");
            let errors = parse(&text).expect_err(bad);
            assert!(
                errors.contains("db/services.toml:5:8: error: team `"),
                "{bad}: {errors}"
            );
        }
        let text = format!(
            "{header}[services.a]\ncontact = \"  \"\n[services.b]\ncontact = \"a\\nb\"\n[services.c]\nteam = 3\nowners = \"@x\"\n"
        );
        let errors = parse(&text).unwrap_err();
        assert!(
            errors.contains("db/services.toml:5:11: error: `contact` is empty"),
            "{errors}"
        );
        assert!(
            errors.contains(
                "db/services.toml:7:11: error: contact `a\\nb` contains a control character"
            ),
            "{errors}"
        );
        assert!(errors.contains("db/services.toml:9:8:"), "{errors}");
        assert!(errors.contains("db/services.toml:10:1:"), "{errors}");
    }

    #[test]
    fn patterns_are_anchored_and_escaped() {
        assert_eq!(pattern(Path::new("services.toml")), "/services.toml");
        assert_eq!(
            pattern(Path::new("./db/my migrations/a")),
            "/db/my\\ migrations/a"
        );
    }
}
