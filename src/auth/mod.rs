//! Accounts and sign-in: registration, password checks, profile changes, sessions.

mod account;
mod accounts;
mod admin;
pub mod caches;
mod dashboard;
mod email;
pub mod import;
mod keys;
pub mod legacy;
mod links;
mod login;
pub mod mfa;
mod password;
mod sessions;
mod signup;

pub use account::{OwnSessionEnd, PasswordChange, PasswordChangeRequest, SelfService};
pub use accounts::{Accounts, AuthError, Imported, Registration, SignInAttempt};
pub use admin::{Acting, Administration};
pub use dashboard::{Dashboard, Overview};
pub use email::EmailLinks;
pub use keys::SigningKeys;
pub use links::{EmailVerification, LinkRequested, MailedLinks, PasswordReset};
pub use login::{
    Answer, Login, LoginOutcome, LoginRequest, Method, PasskeySignInRequest, Refusal, SecondStep,
    SecondStepRequest, SignedIn,
};
pub use mfa::{Enrollment, FactorUsed, MfaError, MfaStatus, SecondFactors};
pub use password::{HashError, PasswordHasher, Verification};
pub use sessions::{Refresh, RequestContext, SessionGrant, SessionSettings, Sessions};
pub use signup::{SignUp, Via};

/// An audit event of `kind` about something the person `user` did themselves.
fn by_the_person(
    kind: crate::audit::EventType,
    user: crate::domain::UserId,
    context: &RequestContext,
) -> crate::audit::Event {
    crate::audit::Event::new(kind)
        .from(context)
        .by(&crate::audit::Actor::User(user))
        .user(user)
}
