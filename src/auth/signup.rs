//! Registration by the person themselves, on the register page or through the API: the
//! per-address limit, the account, its audit record and the verification link.

use super::{Accounts, AuthError, MailedLinks, Registration, RequestContext, by_the_person};
use crate::audit::{Audit, EventType};
use crate::domain::User;
use crate::limits::{LimitKind, Limited, Limiter};
use crate::store::{EmailPurpose, StoreError};

/// Where an account was registered, as its audit record says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Via {
    Api,
    RegisterPage,
}

impl Via {
    fn as_str(self) -> &'static str {
        match self {
            Self::Api => "api",
            Self::RegisterPage => "register_page",
        }
    }
}

/// The self-registration use case over accounts, mailed links, the limiter and the audit
/// log.
#[derive(Clone)]
pub struct SignUp {
    accounts: Accounts,
    links: MailedLinks,
    limiter: Limiter,
    audit: Audit,
}

impl SignUp {
    pub fn new(accounts: Accounts, links: MailedLinks, limiter: Limiter, audit: Audit) -> Self {
        Self {
            accounts,
            links,
            limiter,
            audit,
        }
    }

    /// Counts an attempt from the request's address against the registration limit. It
    /// is asked before the form is read, so that malformed attempts count too.
    pub async fn admit(&self, context: &RequestContext) -> Result<Result<(), Limited>, StoreError> {
        self.limiter
            .attempt_from(LimitKind::RegisterPerIp, context.ip)
            .await
    }

    /// Creates the account (no roles, email unverified), records it and mails the link
    /// that verifies the address.
    pub async fn register(
        &self,
        registration: Registration,
        via: Via,
        context: &RequestContext,
    ) -> Result<User, AuthError> {
        let user = self.accounts.register(registration).await?;
        self.audit
            .record(
                by_the_person(EventType::UserRegistered, user.id, context)
                    .detail(serde_json::json!({"via": via.as_str()})),
            )
            .await;
        tracing::info!(user_id = %user.id, "account registered");
        self.links.send(&user, EmailPurpose::Verify).await;
        Ok(user)
    }
}
