//! The kinds of security event the audit log records.

/// Declares the event kinds, each once with the name the log stores and shows.
macro_rules! event_types {
    ($($variant:ident => $name:literal,)*) => {
        /// The kinds of event (DESIGN: audit event types).
        #[derive(Clone, Copy, Debug, PartialEq, Eq)]
        pub enum EventType {
            $($variant,)*
        }

        impl EventType {
            pub const ALL: &[EventType] = &[$(Self::$variant,)*];

            pub fn as_str(self) -> &'static str {
                match self {
                    $(Self::$variant => $name,)*
                }
            }
        }
    };
}

event_types! {
    UserRegistered => "user.registered",
    LoginSucceeded => "login.succeeded",
    LoginFailed => "login.failed",
    RefreshReused => "refresh.reused",
    SessionEnded => "session.ended",
    PasswordChanged => "password.changed",
    UserDisabled => "user.disabled",
    UserEnabled => "user.enabled",
    UserRolesChanged => "user.roles_changed",
    ClientCreated => "client.created",
    ClientUpdated => "client.updated",
    ClientDeleted => "client.deleted",
    KeyRotated => "key.rotated",
    KeyRevoked => "key.revoked",
    EmailVerified => "email.verified",
    PasswordReset => "password.reset",
    PasswordResetLinkSent => "password.reset_link_sent",
    MfaEnabled => "mfa.enabled",
    MfaRemoved => "mfa.removed",
    MfaReset => "mfa.reset",
    MfaFailed => "mfa.failed",
    RecoveryCodeUsed => "recovery_code.used",
    PasskeyAdded => "passkey.added",
    PasskeyRemoved => "passkey.removed",
    PasskeyCloneWarning => "passkey.clone_warning",
    LegacyExchanged => "legacy.exchanged",
}

impl EventType {
    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.iter().copied().find(|t| t.as_str() == text)
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
