//! What a database store's schema says of itself, judged against the migrations a release
//! knows: current, out of date (run `kudos migrate`), newer than this release (refuse), left
//! half-applied, or edited after it was applied. The stores read their migrations table
//! (sqlx's shape) and ask [`judge`]; the wording is the same for every store.

/// A migration this release carries: its version and checksum (SHA-384 of its SQL, as sqlx
/// computes it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KnownMigration {
    /// The version, counting from 1.
    pub version: i64,
    /// sqlx's checksum of its SQL.
    pub checksum: Vec<u8>,
}

/// A row of the store's migrations table.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AppliedMigration {
    /// The version.
    pub version: i64,
    /// The checksum recorded when it was applied.
    pub checksum: Vec<u8>,
    /// Whether it finished (sqlx records a failure as `success = false`).
    pub success: bool,
}

/// What a migration run did: the schema version before and after (0 for an empty database).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Migrated {
    /// The version the store was at.
    pub from: i64,
    /// The version it is at now.
    pub to: i64,
}

impl Migrated {
    /// A run from version `from` to `to`.
    #[must_use]
    pub const fn new(from: i64, to: i64) -> Self {
        Self { from, to }
    }
}

/// The command that migrates, named in errors.
pub const MIGRATE_COMMAND: &str = "kudos migrate --config kudos.toml (or --store-env VAR)";

/// The newest version among `applied` that finished (0 when none did).
#[must_use]
pub fn version_of(applied: &[AppliedMigration]) -> i64 {
    applied
        .iter()
        .filter(|m| m.success)
        .map(|m| m.version)
        .max()
        .unwrap_or(0)
}

/// Judges the schema `store` (a name for messages: `"sqlite"`, `"postgres"`) recorded as
/// `applied` against the migrations this release `known`s, for a store about to be used.
///
/// # Errors
///
/// A message saying what is wrong and what to do: a migration applied by a newer release
/// (this binary refuses to write), one that failed part way, one whose SQL has changed since
/// it was applied, or migrations still to apply (naming [`MIGRATE_COMMAND`]).
pub fn judge(
    store: &str,
    known: &[KnownMigration],
    applied: &[AppliedMigration],
) -> Result<(), String> {
    let latest = known.iter().map(|m| m.version).max().unwrap_or(0);
    if let Some(newer) = applied
        .iter()
        .map(|m| m.version)
        .filter(|v| *v > latest)
        .max()
    {
        return Err(format!(
            "{store}: the ledger's schema is at version {newer}, written by a newer release of \
             Kudos; this release knows versions up to {latest} and refuses to use it: upgrade \
             Kudos"
        ));
    }
    if let Some(dirty) = applied.iter().find(|m| !m.success) {
        return Err(format!(
            "{store}: migration {} of the ledger's schema failed part way; restore the database \
             or finish it by hand, then run {MIGRATE_COMMAND}",
            dirty.version
        ));
    }
    for m in applied {
        if let Some(k) = known.iter().find(|k| k.version == m.version)
            && k.checksum != m.checksum
        {
            return Err(format!(
                "{store}: migration {} of the ledger's schema differs from the one this release \
                 carries (its checksum changed since it was applied); the database was changed \
                 by hand or by another build",
                m.version
            ));
        }
    }
    let current = version_of(applied);
    let missing: Vec<i64> = known
        .iter()
        .map(|k| k.version)
        .filter(|v| !applied.iter().any(|m| m.version == *v))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{store}: the ledger's schema is at version {current} and this release needs version \
             {latest}: run {MIGRATE_COMMAND} with a role that may change the schema"
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn known() -> Vec<KnownMigration> {
        (1..=3)
            .map(|version| KnownMigration {
                version,
                checksum: version.to_le_bytes().to_vec(),
            })
            .collect()
    }

    fn applied(versions: &[i64]) -> Vec<AppliedMigration> {
        versions
            .iter()
            .map(|&version| AppliedMigration {
                version,
                checksum: version.to_le_bytes().to_vec(),
                success: true,
            })
            .collect()
    }

    #[test]
    fn a_current_schema_passes() {
        assert_eq!(judge("sqlite", &known(), &applied(&[1, 2, 3])), Ok(()));
        assert_eq!(version_of(&applied(&[1, 2, 3])), 3);
    }

    #[test]
    fn an_out_of_date_schema_names_the_command() {
        let e = judge("postgres", &known(), &applied(&[1, 2])).unwrap_err();
        assert!(
            e.contains("at version 2") && e.contains("needs version 3"),
            "{e}"
        );
        assert!(e.contains("kudos migrate"), "{e}");
        let e = judge("postgres", &known(), &[]).unwrap_err();
        assert!(e.contains("at version 0"), "{e}");
    }

    #[test]
    fn a_newer_schema_is_refused() {
        let e = judge("postgres", &known(), &applied(&[1, 2, 3, 4])).unwrap_err();
        assert!(
            e.contains("version 4") && e.contains("newer release"),
            "{e}"
        );
    }

    #[test]
    fn a_failed_or_edited_migration_is_named() {
        let mut dirty = applied(&[1, 2, 3]);
        dirty[2].success = false;
        let e = judge("sqlite", &known(), &dirty).unwrap_err();
        assert!(e.contains("migration 3") && e.contains("failed"), "{e}");
        let mut edited = applied(&[1, 2, 3]);
        edited[1].checksum = vec![9];
        let e = judge("sqlite", &known(), &edited).unwrap_err();
        assert!(e.contains("migration 2") && e.contains("checksum"), "{e}");
    }
}
