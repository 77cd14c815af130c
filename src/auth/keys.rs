//! The signing keys as administrators manage them — listed, rotated, revoked — from the
//! command line or the admin console: the keys folder changes, a running server takes the
//! change at once (other instances within `GATEHOUSE_KEYS_RELOAD_INTERVAL`), and the audit
//! log records it.

use std::sync::Arc;
use std::time::Duration;

use super::admin::Acting;
use crate::audit::{Audit, EventType};
use crate::clock::Clock;
use crate::token::{KeyError, KeyFolder, KeyInfo, Keys, RotateOutcome};

/// The key use cases over the keys folder.
#[derive(Clone)]
pub struct SigningKeys {
    folder: KeyFolder,
    /// The keys this process signs with, reloaded after a change (`None`: the command
    /// line, which signs nothing).
    running: Option<Keys>,
    /// `None` when the database cannot be reached: the folder works without it.
    audit: Option<Audit>,
    clock: Arc<dyn Clock>,
    /// How long a new key is published before it signs.
    publish_ahead: Duration,
    /// The longest lifetime of a token a key signs (access or ID token).
    token_lifetime: Duration,
}

impl SigningKeys {
    pub fn new(
        folder: KeyFolder,
        audit: Option<Audit>,
        clock: Arc<dyn Clock>,
        publish_ahead: Duration,
        token_lifetime: Duration,
    ) -> Self {
        Self {
            folder,
            running: None,
            audit,
            clock,
            publish_ahead,
            token_lifetime,
        }
    }

    /// The same use cases, reloading `running` after each change.
    pub fn running(mut self, keys: Keys) -> Self {
        self.running = Some(keys);
        self
    }

    /// Every key with its state and planned times.
    pub async fn list(&self) -> Result<Vec<KeyInfo>, KeyError> {
        let (folder, now) = (self.folder.clone(), self.clock.now());
        blocking(move || folder.list(now)).await
    }

    /// Adds a key that is published now and signs once every cached JWKS has it;
    /// nothing while a rotation is under way, or while the active key is younger than
    /// `if_older_than`.
    pub async fn rotate(
        &self,
        if_older_than: Option<Duration>,
        by: &Acting<'_>,
    ) -> Result<RotateOutcome, KeyError> {
        let folder = self.folder.clone();
        let clock = self.clock.clone();
        let (ahead, lifetime) = (self.publish_ahead, self.token_lifetime);
        let outcome =
            blocking(move || folder.rotate(&*clock, ahead, lifetime, if_older_than)).await?;
        if let RotateOutcome::Rotated { kid, .. } = &outcome {
            self.changed(EventType::KeyRotated, kid, by).await;
        }
        Ok(outcome)
    }

    /// Removes a key at once (a compromised key): the tokens it signed stop being accepted.
    /// The key that signs from now on, when this one was signing.
    pub async fn revoke(&self, kid: &str, by: &Acting<'_>) -> Result<Option<String>, KeyError> {
        let (folder, now, revoked) = (self.folder.clone(), self.clock.now(), kid.to_string());
        let promoted = blocking(move || folder.revoke(&revoked, now)).await?;
        self.changed(EventType::KeyRevoked, kid, by).await;
        Ok(promoted)
    }

    /// Stops publishing a key once the tokens it signed have expired.
    pub async fn retire(&self, kid: &str) -> Result<(), KeyError> {
        let (folder, now, lifetime) = (self.folder.clone(), self.clock.now(), self.token_lifetime);
        let retired = kid.to_string();
        blocking(move || folder.retire(&retired, now, lifetime)).await?;
        self.reload().await;
        Ok(())
    }

    async fn changed(&self, kind: EventType, kid: &str, by: &Acting<'_>) {
        self.reload().await;
        match &self.audit {
            Some(audit) => {
                audit
                    .record(by.event(kind).detail(serde_json::json!({"kid": kid})))
                    .await
            }
            None => tracing::warn!(kid, "a key change is not in the audit log (no database)"),
        }
    }

    /// Takes the folder as it is now into the running server.
    async fn reload(&self) {
        let Some(running) = &self.running else {
            return;
        };
        let (folder, now) = (self.folder.clone(), self.clock.now());
        match blocking(move || folder.load(now)).await {
            Ok(ring) => running.replace(ring),
            Err(e) => {
                tracing::error!(error = %e, "cannot reload signing keys; keeping the keys in use")
            }
        }
    }
}

/// File work off the async runtime.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, KeyError> + Send + 'static,
) -> Result<T, KeyError> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| KeyError::Refused(format!("the key change did not finish: {e}")))?
}
