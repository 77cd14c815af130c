//! The messages Gatehouse sends, in English and French (the account's
//! `preferred_language`), each as plain text and HTML.

use std::time::Duration;

use askama::Template;

use super::Outgoing;
use crate::domain::User;

/// One language's words.
pub struct MailText {
    pub lang: &'static str,
    pub greeting: &'static str,
    pub verify_subject: &'static str,
    pub verify_intro: &'static str,
    pub verify_action: &'static str,
    pub verify_not_you: &'static str,
    pub reset_subject: &'static str,
    pub reset_intro: &'static str,
    pub reset_action: &'static str,
    pub reset_not_you: &'static str,
    /// "This link expires in {} hours." with `{}` for the number.
    expires_hours: &'static str,
    expires_minutes: &'static str,
}

const EN: MailText = MailText {
    lang: "en",
    greeting: "Hello",
    verify_subject: "Confirm your email address",
    verify_intro: "Please confirm that this is your email address by opening this link:",
    verify_action: "Confirm my email address",
    verify_not_you: "If you did not create an account, ignore this message: nothing will happen.",
    reset_subject: "Reset your password",
    reset_intro: "Someone asked to reset the password of your account. To choose a new password, open this link:",
    reset_action: "Choose a new password",
    reset_not_you: "If you did not ask for this, ignore this message: your password stays as it is.",
    expires_hours: "This link works once and expires in {} hours.",
    expires_minutes: "This link works once and expires in {} minutes.",
};

const FR: MailText = MailText {
    lang: "fr",
    greeting: "Bonjour",
    verify_subject: "Confirmez votre adresse e-mail",
    verify_intro: "Merci de confirmer que cette adresse e-mail est bien la vôtre en ouvrant ce lien :",
    verify_action: "Confirmer mon adresse e-mail",
    verify_not_you: "Si vous n'avez pas créé de compte, ignorez ce message : il ne se passera rien.",
    reset_subject: "Réinitialisez votre mot de passe",
    reset_intro: "Quelqu'un a demandé à réinitialiser le mot de passe de votre compte. Pour en choisir un nouveau, ouvrez ce lien :",
    reset_action: "Choisir un nouveau mot de passe",
    reset_not_you: "Si vous n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas.",
    expires_hours: "Ce lien ne sert qu'une fois et expire dans {} heures.",
    expires_minutes: "Ce lien ne sert qu'une fois et expire dans {} minutes.",
};

/// The texts for a language tag (`fr`, `fr-CA` → French; anything else → English).
pub fn text_for(language: Option<&str>) -> &'static MailText {
    match language {
        Some(tag) if tag.to_ascii_lowercase().starts_with("fr") => &FR,
        _ => &EN,
    }
}

impl MailText {
    fn expires(&self, ttl: Duration) -> String {
        if ttl < Duration::from_secs(2 * 3600) {
            let minutes = ttl.as_secs().div_ceil(60).max(1);
            self.expires_minutes.replace("{}", &minutes.to_string())
        } else {
            let hours = ttl.as_secs().div_ceil(3600);
            self.expires_hours.replace("{}", &hours.to_string())
        }
    }
}

#[derive(Template)]
#[template(path = "mail/verify_email.txt")]
struct VerifyText<'a> {
    t: &'static MailText,
    name: &'a str,
    link: &'a str,
    expires: String,
}

#[derive(Template)]
#[template(path = "mail/verify_email.html")]
struct VerifyHtml<'a> {
    t: &'static MailText,
    name: &'a str,
    link: &'a str,
    expires: String,
}

/// The account's name and address as a mailbox.
fn recipient(user: &User) -> Result<lettre::message::Mailbox, askama::Error> {
    let to = format!(
        "{} <{}>",
        user.name.as_str().replace(['<', '>', '"'], ""),
        user.email.as_str()
    );
    to.parse()
        .or_else(|_| user.email.as_str().parse())
        .map_err(|_| askama::Error::Custom("the account's address is not a mailbox".into()))
}

#[derive(Template)]
#[template(path = "mail/reset_password.txt")]
struct ResetText<'a> {
    t: &'static MailText,
    name: &'a str,
    link: &'a str,
    expires: String,
}

#[derive(Template)]
#[template(path = "mail/reset_password.html")]
struct ResetHtml<'a> {
    t: &'static MailText,
    name: &'a str,
    link: &'a str,
    expires: String,
}

/// The parts every link mail shows: its texts, the person's name, the link and when it
/// expires.
type LinkParts<'a> = (&'static MailText, &'a str, &'a str, String);

/// A mail carrying `link`, valid for `ttl`, in the person's language: its subject and
/// its text and HTML bodies made from the same parts.
fn link_mail<'a, T: Template, H: Template>(
    user: &'a User,
    link: &'a str,
    ttl: Duration,
    subject: fn(&MailText) -> &'static str,
    text: fn(LinkParts<'a>) -> T,
    html: fn(LinkParts<'a>) -> H,
) -> Result<Outgoing, askama::Error> {
    let t = text_for(user.profile.preferred_language.as_deref());
    let (name, expires) = (user.name.as_str(), t.expires(ttl));
    Ok(Outgoing {
        to: recipient(user)?,
        subject: subject(t).to_string(),
        text: text((t, name, link, expires.clone())).render()?,
        html: html((t, name, link, expires)).render()?,
    })
}

/// "Confirm your email address", with the link `link` valid for `ttl`.
pub fn verification(user: &User, link: &str, ttl: Duration) -> Result<Outgoing, askama::Error> {
    link_mail(
        user,
        link,
        ttl,
        |t| t.verify_subject,
        |(t, name, link, expires)| VerifyText {
            t,
            name,
            link,
            expires,
        },
        |(t, name, link, expires)| VerifyHtml {
            t,
            name,
            link,
            expires,
        },
    )
}

/// "Reset your password", with the link `link` valid for `ttl`.
pub fn password_reset(user: &User, link: &str, ttl: Duration) -> Result<Outgoing, askama::Error> {
    link_mail(
        user,
        link,
        ttl,
        |t| t.reset_subject,
        |(t, name, link, expires)| ResetText {
            t,
            name,
            link,
            expires,
        },
        |(t, name, link, expires)| ResetHtml {
            t,
            name,
            link,
            expires,
        },
    )
}
