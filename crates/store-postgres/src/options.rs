//! The store's connection settings.

/// Connection settings: `PostgresOptions::default()` and the builder methods (fields may be
/// added in a minor release).
///
/// ```
/// let options = kudos_store_postgres::PostgresOptions::default()
///     .max_connections(4)
///     .schema("kudos")
///     .migrate(true);
/// assert_eq!(options.schema.as_deref(), Some("kudos"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PostgresOptions {
    /// The pool size (`[store] max_connections`).
    pub max_connections: u32,
    /// A schema to keep the tables in (created by a migrating open if missing); `None` uses
    /// the connection's search path. Letters, digits and `_` only.
    pub schema: Option<String>,
    /// Apply pending migrations when the store opens (`[store] migrate = true`). Off by
    /// default: only `kudos migrate` (or [`PostgresStore::migrate`](crate::PostgresStore::migrate)) changes the schema, and an
    /// open only checks it, so the service's role needs no DDL right.
    pub migrate: bool,
    /// Run every transaction SERIALIZABLE, as CockroachDB always does: conflicts then surface
    /// as 40001 and are retried. Off by default (the conditional appends are correct under
    /// PostgreSQL's READ COMMITTED); the tests turn it on to exercise the retry path.
    pub serializable: bool,
}

impl Default for PostgresOptions {
    fn default() -> Self {
        Self {
            max_connections: 8,
            schema: None,
            migrate: false,
            serializable: false,
        }
    }
}

impl PostgresOptions {
    /// The pool size.
    #[must_use]
    pub fn max_connections(mut self, max_connections: u32) -> Self {
        self.max_connections = max_connections;
        self
    }

    /// The schema to keep the tables in.
    #[must_use]
    pub fn schema(mut self, schema: impl Into<String>) -> Self {
        self.schema = Some(schema.into());
        self
    }

    /// Whether opening applies pending migrations.
    #[must_use]
    pub fn migrate(mut self, migrate: bool) -> Self {
        self.migrate = migrate;
        self
    }

    /// Whether every transaction runs SERIALIZABLE.
    #[must_use]
    pub fn serializable(mut self, serializable: bool) -> Self {
        self.serializable = serializable;
        self
    }
}
