//! The kinds of security event the audit log records.

/// The kinds of event (DESIGN: audit event types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EventType {
    UserRegistered,
    LoginSucceeded,
    LoginFailed,
    RefreshReused,
    SessionEnded,
    PasswordChanged,
    UserDisabled,
    UserEnabled,
    UserRolesChanged,
    ClientCreated,
    ClientUpdated,
    ClientDeleted,
    KeyRotated,
    KeyRevoked,
    EmailVerified,
    PasswordReset,
}

impl EventType {
    pub const ALL: [EventType; 16] = [
        Self::UserRegistered,
        Self::LoginSucceeded,
        Self::LoginFailed,
        Self::RefreshReused,
        Self::SessionEnded,
        Self::PasswordChanged,
        Self::UserDisabled,
        Self::UserEnabled,
        Self::UserRolesChanged,
        Self::ClientCreated,
        Self::ClientUpdated,
        Self::ClientDeleted,
        Self::KeyRotated,
        Self::KeyRevoked,
        Self::EmailVerified,
        Self::PasswordReset,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Self::UserRegistered => "user.registered",
            Self::LoginSucceeded => "login.succeeded",
            Self::LoginFailed => "login.failed",
            Self::RefreshReused => "refresh.reused",
            Self::SessionEnded => "session.ended",
            Self::PasswordChanged => "password.changed",
            Self::UserDisabled => "user.disabled",
            Self::UserEnabled => "user.enabled",
            Self::UserRolesChanged => "user.roles_changed",
            Self::ClientCreated => "client.created",
            Self::ClientUpdated => "client.updated",
            Self::ClientDeleted => "client.deleted",
            Self::KeyRotated => "key.rotated",
            Self::KeyRevoked => "key.revoked",
            Self::EmailVerified => "email.verified",
            Self::PasswordReset => "password.reset",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }
}

/// Who did what an event records. Stored and shown as `user:<id>` (the person
/// themselves), `admin:<id>` (an administrator, through the admin API), `client:<id>`,
/// `cli` (the command line) or `system` (Gatehouse itself, e.g. ending a session whose
/// token was replayed).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    User(super::UserId),
    Admin(super::UserId),
    Client(String),
    Cli,
    System,
}

impl std::fmt::Display for Actor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::User(id) => write!(f, "user:{id}"),
            Self::Admin(id) => write!(f, "admin:{id}"),
            Self::Client(id) => write!(f, "client:{id}"),
            Self::Cli => f.write_str("cli"),
            Self::System => f.write_str("system"),
        }
    }
}
