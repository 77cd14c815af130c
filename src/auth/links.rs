//! Mailed links, end to end: asking for one, mailing it, and following it (an address
//! verified, a password reset).

use std::net::IpAddr;

use super::by_the_person;
use super::{Accounts, AuthError, EmailLinks, RequestContext, Sessions};
use crate::audit::{Audit, EventType};
use crate::domain::{Email, Password, User, UserId};
use crate::limits::{LimitKind, Limited, Limiter};
use crate::mail::{Mailer, messages};
use crate::store::{EmailPurpose, StoreError};

/// What became of a request for a link. The same for every address, known or not.
#[derive(Debug)]
pub enum LinkRequested {
    /// Taken: a link is mailed if an account qualifies.
    Accepted,
    /// A rate limit was reached; nothing was looked up.
    Limited(Limited),
}

/// What became of following a verification link.
#[derive(Debug, PartialEq, Eq)]
pub enum EmailVerification {
    Verified(UserId),
    /// Malformed, unknown, spent, expired, or for an address the account no longer has.
    LinkInvalid,
}

/// What became of a password reset.
#[derive(Debug, PartialEq, Eq)]
pub enum PasswordReset {
    /// The password is replaced and every session of the account ended.
    Done(UserId),
    /// The link cannot be used (or the account no longer can be).
    LinkInvalid,
}

/// The mailed-link use cases over accounts, sessions, link tokens, the limiter, the mailer
/// and the audit log.
#[derive(Clone)]
pub struct MailedLinks {
    accounts: Accounts,
    sessions: Sessions,
    links: EmailLinks,
    limiter: Limiter,
    audit: Audit,
    mailer: Mailer,
    /// Links start with the issuer, never with a request's Host header.
    issuer: String,
}

impl MailedLinks {
    pub fn new(
        accounts: Accounts,
        sessions: Sessions,
        links: EmailLinks,
        limiter: Limiter,
        audit: Audit,
        mailer: Mailer,
        issuer: String,
    ) -> Self {
        Self {
            accounts,
            sessions,
            links,
            limiter,
            audit,
            mailer,
            issuer,
        }
    }

    /// Asks for a mailed link of `purpose` for `email` (a password reset, or a new
    /// verification link), rate-limited per client IP and per address. The lookup and the
    /// mail happen in the background, so the answer and its timing are the same whether or
    /// not an account has the address. Only an enabled account gets mail, and a
    /// verification link only while its address is unverified.
    pub async fn request(
        &self,
        email: Email,
        purpose: EmailPurpose,
        ip: Option<IpAddr>,
    ) -> Result<LinkRequested, StoreError> {
        if let Err(limited) = self.limiter.attempt_from(LimitKind::ResetPerIp, ip).await? {
            return Ok(LinkRequested::Limited(limited));
        }
        if let Err(limited) = self.limiter.reset_requested_for(email.as_str()).await? {
            return Ok(LinkRequested::Limited(limited));
        }
        let this = self.clone();
        tokio::spawn(async move {
            match this.accounts.find_by_email(&email).await {
                Ok(Some(user)) if !user.disabled => {
                    if purpose == EmailPurpose::Reset || !user.email_verified {
                        this.send(&user, purpose).await;
                    }
                }
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "a request for a mailed link could not be served")
                }
            }
        });
        Ok(LinkRequested::Accepted)
    }

    /// An administrator has a password-reset link mailed to the person (the console),
    /// recorded with the administrator as actor.
    pub async fn send_reset_link(&self, user: &User, by: &super::Acting<'_>) {
        self.send(user, EmailPurpose::Reset).await;
        self.audit
            .record(by.event(EventType::PasswordResetLinkSent).user(user.id))
            .await;
    }

    /// Mails a single-use link for `purpose` to the account's address. Never fails: a
    /// problem is logged, and delivery is retried by the mailer.
    pub async fn send(&self, user: &User, purpose: EmailPurpose) {
        let token = match self.links.issue(user, purpose).await {
            Ok(token) => token,
            Err(e) => {
                tracing::warn!(error = %e, user_id = %user.id, purpose = purpose.as_str(), "no mail: the link could not be stored");
                return;
            }
        };
        let path = match purpose {
            EmailPurpose::Verify => "verify-email",
            EmailPurpose::Reset => "reset-password",
        };
        let link = format!("{}/{path}?token={}", self.issuer, token.expose());
        match messages::link_message(purpose, user, &link, self.links.ttl(purpose)) {
            Ok(message) => {
                self.mailer.send(message);
            }
            Err(e) => tracing::error!(error = %e, "a message could not be built"),
        }
    }

    /// Follows a verification link: spends it, marks the address verified, records it.
    pub async fn verify_email(
        &self,
        token: &str,
        context: &RequestContext,
    ) -> Result<EmailVerification, StoreError> {
        let Some(user) = self.links.verify(token).await? else {
            return Ok(EmailVerification::LinkInvalid);
        };
        self.accounts.forget(user);
        self.audit
            .record(by_the_person(EventType::EmailVerified, user, context))
            .await;
        tracing::info!(user_id = %user, "email address verified");
        Ok(EmailVerification::Verified(user))
    }

    /// Whether `token` is a live reset link. Spends nothing: mail scanners open links.
    pub async fn reset_link_is_live(&self, token: &str) -> Result<bool, StoreError> {
        Ok(self.links.peek_reset(token).await?.is_some())
    }

    /// Follows a reset link: spends it, sets `new`, ends every session of the account,
    /// marks the address verified (the link reached the person there) and records it.
    /// The caller checks `new` first, so that a typo does not spend the link.
    pub async fn reset_password(
        &self,
        token: &str,
        new: &Password,
        context: &RequestContext,
    ) -> Result<PasswordReset, StoreError> {
        let Some(redeemed) = self.links.redeem(token, EmailPurpose::Reset).await? else {
            return Ok(PasswordReset::LinkInvalid);
        };
        let user = redeemed.user_id;
        match self
            .accounts
            .reset_password(&self.sessions, user, new)
            .await
        {
            Ok(()) => {}
            Err(AuthError::Store(e)) => return Err(e),
            Err(e) => {
                tracing::info!(error = %e, user_id = %user, "a password reset was refused");
                return Ok(PasswordReset::LinkInvalid);
            }
        }
        if let Err(e) = self.links.mark_verified(user, &redeemed.email).await {
            tracing::warn!(error = %e, user_id = %user, "the address could not be marked verified");
        }
        self.accounts.forget(user);
        self.audit
            .record(by_the_person(EventType::PasswordReset, user, context))
            .await;
        Ok(PasswordReset::Done(user))
    }
}
