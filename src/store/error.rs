//! What can go wrong below the domain: unavailable, conflicting, or broken storage.

/// A storage failure, classified by what the caller should do about it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The database (or Redis) cannot be reached now; the request may be retried.
    #[error("storage is unavailable: {0}")]
    Unavailable(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// The database refused a value the request carried (PostgreSQL class 22, "data
    /// exception", such as a NUL byte in text; SQLite's too-big and mismatch errors): bad
    /// input, never reported as an outage.
    #[error("the database refused a value: {0}")]
    Rejected(#[source] Box<dyn std::error::Error + Send + Sync>),
    /// A uniqueness rule was broken; names the rule.
    #[error("conflicts with existing data ({0})")]
    Conflict(&'static str),
    /// Anything else: a bug or corrupt data.
    #[error("storage failed: {0}")]
    Internal(#[source] Box<dyn std::error::Error + Send + Sync>),
}

impl StoreError {
    /// Logs an outage or a refused value at the level it deserves, once, for the
    /// mappings that turn the error into an answer (`/api/v1` problems, OAuth errors).
    pub fn logged(self) -> Self {
        match &self {
            Self::Unavailable(source) => tracing::warn!(error = %source, "storage unavailable"),
            Self::Rejected(source) => {
                tracing::info!(error = %source, "storage refused a value of the request")
            }
            Self::Conflict(_) | Self::Internal(_) => {}
        }
        self
    }
}

impl From<sqlx::Error> for StoreError {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Io(_)
            | sqlx::Error::Tls(_)
            | sqlx::Error::PoolTimedOut
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed
            | sqlx::Error::Protocol(_) => Self::Unavailable(Box::new(e)),
            sqlx::Error::Database(db) => {
                // SQLite: the database is locked or busy past the busy timeout.
                // PostgreSQL: class 08 (connection), 53 (resources), 57P (shutdown).
                let code = db.code().unwrap_or_default();
                let transient = matches!(code.as_ref(), "5" | "6" | "517" | "261")
                    || code.starts_with("08")
                    || code.starts_with("53")
                    || code.starts_with("57P");
                let refused_value = matches!(code.as_ref(), "18" | "20") || code.starts_with("22");
                if transient {
                    Self::Unavailable(Box::new(e))
                } else if refused_value {
                    Self::Rejected(Box::new(e))
                } else {
                    Self::Internal(Box::new(e))
                }
            }
            _ => Self::Internal(Box::new(e)),
        }
    }
}
