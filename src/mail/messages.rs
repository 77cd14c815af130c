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
    /// "This link expires in {hours} hours." with `{}` for the number.
    expires_hours: &'static str,
}

const EN: MailText = MailText {
    lang: "en",
    greeting: "Hello",
    verify_subject: "Confirm your email address",
    verify_intro: "Please confirm that this is your email address by opening this link:",
    verify_action: "Confirm my email address",
    verify_not_you: "If you did not create an account, ignore this message: nothing will happen.",
    expires_hours: "This link works once and expires in {} hours.",
};

const FR: MailText = MailText {
    lang: "fr",
    greeting: "Bonjour",
    verify_subject: "Confirmez votre adresse e-mail",
    verify_intro: "Merci de confirmer que cette adresse e-mail est bien la vôtre en ouvrant ce lien :",
    verify_action: "Confirmer mon adresse e-mail",
    verify_not_you: "Si vous n'avez pas créé de compte, ignorez ce message : il ne se passera rien.",
    expires_hours: "Ce lien ne sert qu'une fois et expire dans {} heures.",
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
        let hours = ttl.as_secs().div_ceil(3600).max(1);
        self.expires_hours.replace("{}", &hours.to_string())
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

/// "Confirm your email address", with the link `link` valid for `ttl`.
pub fn verification(user: &User, link: &str, ttl: Duration) -> Result<Outgoing, askama::Error> {
    let t = text_for(user.profile.preferred_language.as_deref());
    let to = format!(
        "{} <{}>",
        user.name.replace(['<', '>', '"'], ""),
        user.email.as_str()
    );
    Ok(Outgoing {
        to: to
            .parse()
            .or_else(|_| user.email.as_str().parse())
            .map_err(|_| askama::Error::Custom("the account's address is not a mailbox".into()))?,
        subject: t.verify_subject.to_string(),
        text: VerifyText {
            t,
            name: &user.name,
            link,
            expires: t.expires(ttl),
        }
        .render()?,
        html: VerifyHtml {
            t,
            name: &user.name,
            link,
            expires: t.expires(ttl),
        }
        .render()?,
    })
}
