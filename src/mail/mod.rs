//! Outgoing mail: SMTP when `GATEHOUSE_SMTP_URL` is set, otherwise `.eml` files in
//! `GATEHOUSE_MAIL_DIR`. Messages go out from a background queue with retries, so a
//! request never waits for a mail server and never fails because of one.

pub mod messages;

use std::path::PathBuf;
use std::time::Duration;

use lettre::message::{Mailbox, MultiPart};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use tokio::sync::mpsc;

use crate::domain::Secret;

/// Where mail goes and how hard Gatehouse tries.
#[derive(Clone, Debug)]
pub struct MailSettings {
    /// `smtp://…` or `smtps://…`, as lettre reads it; `None` writes files instead.
    pub smtp_url: Option<Secret<String>>,
    pub from: Mailbox,
    pub dir: PathBuf,
    /// The waits before each new attempt; a message is given up after the last.
    pub retry_delays: Vec<Duration>,
}

impl MailSettings {
    /// The settings of the configuration's mail section, with the default retries.
    pub fn from_config(mail: &crate::config::OutgoingMail) -> Result<Self, MailError> {
        Ok(Self {
            smtp_url: mail.smtp_url.clone(),
            from: mail
                .from
                .parse()
                .map_err(|e| MailError::From(format!("{e}")))?,
            dir: mail.dir.clone(),
            retry_delays: Self::default_retry_delays(),
        })
    }

    /// 10 s, 1 min, 5 min, 30 min: a mail server down for half an hour loses nothing.
    pub fn default_retry_delays() -> Vec<Duration> {
        [10, 60, 300, 1800]
            .into_iter()
            .map(Duration::from_secs)
            .collect()
    }
}

/// One message: a plain-text and an HTML part of the same content.
#[derive(Clone)]
pub struct Outgoing {
    pub to: Mailbox,
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl std::fmt::Debug for Outgoing {
    // The body holds single-use links: never in logs.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outgoing")
            .field("subject", &self.subject)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("GATEHOUSE_SMTP_URL cannot be used: {0}")]
    SmtpUrl(String),
    #[error("GATEHOUSE_MAIL_FROM is not a mailbox: {0}")]
    From(String),
    #[error("cannot create the mail folder {path} (GATEHOUSE_MAIL_DIR): {source}")]
    Folder {
        path: PathBuf,
        source: std::io::Error,
    },
}

#[derive(Clone)]
enum Transport {
    Smtp(AsyncSmtpTransport<Tokio1Executor>),
    /// `<id>.eml` files in the folder, 0600: they hold single-use links.
    Files,
}

/// Messages waiting to be handed to the transport; beyond this, new ones are dropped
/// (logged and counted) rather than held without bound.
const QUEUE: usize = 1024;

/// Hands messages to the background sender.
#[derive(Clone)]
pub struct Mailer {
    queue: mpsc::Sender<Queued>,
    from: Mailbox,
    /// "smtp" or the folder the files go to, for the start-up log.
    destination: String,
}

struct Queued {
    message: Message,
    attempt: usize,
}

impl std::fmt::Debug for Mailer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Mailer")
            .field("destination", &self.destination)
            .finish_non_exhaustive()
    }
}

impl Mailer {
    /// Checks the settings and starts the sender on the current Tokio runtime.
    pub fn start(settings: MailSettings) -> Result<Self, MailError> {
        let (transport, destination) = match &settings.smtp_url {
            Some(url) => {
                let transport = AsyncSmtpTransport::<Tokio1Executor>::from_url(url.expose())
                    .map_err(|e| MailError::SmtpUrl(e.to_string()))?
                    .build();
                (Transport::Smtp(transport), "smtp".to_string())
            }
            None => {
                crate::files::create_private_dir(&settings.dir).map_err(|source| {
                    MailError::Folder {
                        path: settings.dir.clone(),
                        source,
                    }
                })?;
                (Transport::Files, settings.dir.display().to_string())
            }
        };
        let (queue, waiting) = mpsc::channel(QUEUE);
        tokio::spawn(deliver(
            transport,
            settings.dir.clone(),
            settings.retry_delays,
            queue.clone(),
            waiting,
        ));
        Ok(Self {
            queue,
            from: settings.from,
            destination,
        })
    }

    /// Where mail goes: "smtp" or the folder of `.eml` files.
    pub fn destination(&self) -> &str {
        &self.destination
    }

    /// Queues `mail`; never waits. `false` when it could not be queued (already logged).
    pub fn send(&self, mail: Outgoing) -> bool {
        let message = Message::builder()
            .from(self.from.clone())
            .to(mail.to)
            .subject(mail.subject)
            .multipart(MultiPart::alternative_plain_html(mail.text, mail.html));
        let message = match message {
            Ok(message) => message,
            Err(e) => {
                tracing::error!(error = %e, "a message could not be built");
                metrics::counter!("gatehouse_mail_failed_total", "reason" => "invalid")
                    .increment(1);
                return false;
            }
        };
        match self.queue.try_send(Queued {
            message,
            attempt: 0,
        }) {
            Ok(()) => true,
            Err(_) => {
                tracing::error!("the mail queue is full; a message was dropped");
                metrics::counter!("gatehouse_mail_failed_total", "reason" => "queue_full")
                    .increment(1);
                false
            }
        }
    }
}

/// Sends what arrives, one message at a time; a failed message is queued again after its
/// delay (by a timer of its own, so it holds up nothing else) until the delays run out.
async fn deliver(
    transport: Transport,
    dir: PathBuf,
    delays: Vec<Duration>,
    queue: mpsc::Sender<Queued>,
    mut waiting: mpsc::Receiver<Queued>,
) {
    while let Some(queued) = waiting.recv().await {
        let result = match &transport {
            Transport::Smtp(smtp) => smtp
                .send(queued.message.clone())
                .await
                .map(|_| None)
                .map_err(|e| e.to_string()),
            Transport::Files => write_eml(&dir, &queued.message)
                .await
                .map(Some)
                .map_err(|e| e.to_string()),
        };
        match result {
            Ok(file) => {
                metrics::counter!("gatehouse_mail_sent_total").increment(1);
                match file {
                    Some(path) => {
                        tracing::info!(path = %path.display(), "mail written to a file (no GATEHOUSE_SMTP_URL)")
                    }
                    None => tracing::info!(attempt = queued.attempt + 1, "mail sent"),
                }
            }
            Err(e) => match delays.get(queued.attempt) {
                Some(&delay) => {
                    tracing::warn!(error = %e, attempt = queued.attempt + 1, retry_in = ?delay, "sending mail failed; will retry");
                    metrics::counter!("gatehouse_mail_retries_total").increment(1);
                    let queue = queue.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(delay).await;
                        let _ = queue
                            .send(Queued {
                                message: queued.message,
                                attempt: queued.attempt + 1,
                            })
                            .await;
                    });
                }
                None => {
                    tracing::error!(error = %e, attempts = queued.attempt + 1, "sending mail failed; message given up");
                    metrics::counter!("gatehouse_mail_failed_total", "reason" => "undeliverable")
                        .increment(1);
                }
            },
        }
    }
}

/// Writes `message` as `<uuid>.eml` in `dir`, readable by the owner only; written under a
/// temporary name and renamed, so a reader never sees half a message.
async fn write_eml(dir: &std::path::Path, message: &Message) -> std::io::Result<PathBuf> {
    let id = uuid::Uuid::new_v4();
    let path = dir.join(format!("{id}.eml"));
    let partial = dir.join(format!(".{id}.eml.tmp"));
    let bytes = message.formatted();
    let target = path.clone();
    tokio::task::spawn_blocking(move || {
        use std::io::Write;
        let mut file = crate::files::create_private_file(&partial)?;
        file.write_all(&bytes)?;
        std::fs::rename(&partial, &target)
    })
    .await
    .map_err(std::io::Error::other)??;
    Ok(path)
}
