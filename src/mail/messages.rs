//! The messages Gatehouse sends, in English and French (the account's
//! `preferred_language`), each as plain text and HTML.

use std::time::Duration;

use askama::Template;

use super::Outgoing;
use crate::domain::User;
use crate::store::EmailPurpose;

/// The words of one kind of link mail.
pub struct LinkText {
    pub subject: &'static str,
    pub intro: &'static str,
    pub action: &'static str,
    pub not_you: &'static str,
}

/// The words of a mail that tells of a change to the account.
pub struct NoticeText {
    pub subject: &'static str,
    pub body: &'static str,
    pub not_you: &'static str,
}

/// What a notice mail tells of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Notice {
    SecondFactorAdded,
    SecondFactorRemoved,
    /// An administrator removed them (a lost phone).
    SecondFactorReset,
    PasskeyAdded,
    PasskeyRemoved,
}

/// One language's words.
pub struct MailText {
    pub lang: &'static str,
    pub greeting: &'static str,
    pub verify: LinkText,
    pub reset: LinkText,
    pub second_factor_added: NoticeText,
    pub second_factor_removed: NoticeText,
    pub second_factor_reset: NoticeText,
    pub passkey_added: NoticeText,
    pub passkey_removed: NoticeText,
    /// "This link expires in {} hours." with `{}` for the number.
    expires_hours: &'static str,
    expires_minutes: &'static str,
}

const EN: MailText = MailText {
    lang: "en",
    greeting: "Hello",
    verify: LinkText {
        subject: "Confirm your email address",
        intro: "Please confirm that this is your email address by opening this link:",
        action: "Confirm my email address",
        not_you: "If you did not create an account, ignore this message: nothing will happen.",
    },
    reset: LinkText {
        subject: "Reset your password",
        intro: "Someone asked to reset the password of your account. To choose a new password, open this link:",
        action: "Choose a new password",
        not_you: "If you did not ask for this, ignore this message: your password stays as it is.",
    },
    second_factor_added: NoticeText {
        subject: "A second factor was added to your account",
        body: "An authenticator app was set up for your account: signing in now asks for its code after your password.",
        not_you: "If this was not you, someone knows your password: reset it, and ask an administrator to remove the second factor.",
    },
    second_factor_removed: NoticeText {
        subject: "The second factor of your account was removed",
        body: "The authenticator app of your account was removed: signing in now asks only for your password.",
        not_you: "If this was not you, reset your password at once and set up an authenticator app again.",
    },
    second_factor_reset: NoticeText {
        subject: "An administrator removed the second factor of your account",
        body: "An administrator removed the authenticator app and recovery codes of your account, and signed it out everywhere: signing in asks only for your password until you set up an authenticator app again.",
        not_you: "If you did not ask for this, contact your administrator and reset your password.",
    },
    passkey_added: NoticeText {
        subject: "A passkey was added to your account",
        body: "A passkey was added to your account: it signs you in without a password, or as the second step after it.",
        not_you: "If this was not you, remove it on your account page at once, reset your password, and ask an administrator to check your account.",
    },
    passkey_removed: NoticeText {
        subject: "A passkey was removed from your account",
        body: "A passkey was removed from your account: it no longer signs you in.",
        not_you: "If this was not you, reset your password at once and ask an administrator to check your account.",
    },
    expires_hours: "This link works once and expires in {} hours.",
    expires_minutes: "This link works once and expires in {} minutes.",
};

const FR: MailText = MailText {
    lang: "fr",
    greeting: "Bonjour",
    verify: LinkText {
        subject: "Confirmez votre adresse e-mail",
        intro: "Merci de confirmer que cette adresse e-mail est bien la vôtre en ouvrant ce lien :",
        action: "Confirmer mon adresse e-mail",
        not_you: "Si vous n'avez pas créé de compte, ignorez ce message : il ne se passera rien.",
    },
    reset: LinkText {
        subject: "Réinitialisez votre mot de passe",
        intro: "Quelqu'un a demandé à réinitialiser le mot de passe de votre compte. Pour en choisir un nouveau, ouvrez ce lien :",
        action: "Choisir un nouveau mot de passe",
        not_you: "Si vous n'avez rien demandé, ignorez ce message : votre mot de passe ne change pas.",
    },
    second_factor_added: NoticeText {
        subject: "Un second facteur a été ajouté à votre compte",
        body: "Une application d'authentification a été configurée pour votre compte : la connexion demande désormais son code après votre mot de passe.",
        not_you: "Si ce n'était pas vous, quelqu'un connaît votre mot de passe : réinitialisez-le, et demandez à un administrateur de retirer le second facteur.",
    },
    second_factor_removed: NoticeText {
        subject: "Le second facteur de votre compte a été retiré",
        body: "L'application d'authentification de votre compte a été retirée : la connexion ne demande plus que votre mot de passe.",
        not_you: "Si ce n'était pas vous, réinitialisez votre mot de passe sans attendre et configurez à nouveau une application d'authentification.",
    },
    second_factor_reset: NoticeText {
        subject: "Un administrateur a retiré le second facteur de votre compte",
        body: "Un administrateur a retiré l'application d'authentification et les codes de secours de votre compte, et l'a déconnecté partout : la connexion ne demande plus que votre mot de passe jusqu'à ce que vous configuriez à nouveau une application d'authentification.",
        not_you: "Si vous ne l'avez pas demandé, contactez votre administrateur et réinitialisez votre mot de passe.",
    },
    passkey_added: NoticeText {
        subject: "Une clé d'accès a été ajoutée à votre compte",
        body: "Une clé d'accès (passkey) a été ajoutée à votre compte : elle vous connecte sans mot de passe, ou comme seconde étape après lui.",
        not_you: "Si ce n'était pas vous, retirez-la sans attendre sur la page de votre compte, réinitialisez votre mot de passe et demandez à un administrateur de vérifier votre compte.",
    },
    passkey_removed: NoticeText {
        subject: "Une clé d'accès a été retirée de votre compte",
        body: "Une clé d'accès (passkey) a été retirée de votre compte : elle ne vous connecte plus.",
        not_you: "Si ce n'était pas vous, réinitialisez votre mot de passe sans attendre et demandez à un administrateur de vérifier votre compte.",
    },
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
#[template(path = "mail/link.txt")]
struct LinkMailText<'a> {
    t: &'static MailText,
    kind: &'static LinkText,
    name: &'a str,
    link: &'a str,
    expires: String,
}

#[derive(Template)]
#[template(path = "mail/link.html")]
struct LinkMailHtml<'a> {
    t: &'static MailText,
    kind: &'static LinkText,
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

/// The mail carrying a link of `purpose` (`link`, valid for `ttl`), in the person's
/// language, as plain text and HTML.
pub fn link_message(
    purpose: EmailPurpose,
    user: &User,
    link: &str,
    ttl: Duration,
) -> Result<Outgoing, askama::Error> {
    let t = text_for(user.profile.preferred_language.as_deref());
    let kind = match purpose {
        EmailPurpose::Verify => &t.verify,
        EmailPurpose::Reset => &t.reset,
    };
    let (name, expires) = (user.name.as_str(), t.expires(ttl));
    Ok(Outgoing {
        to: recipient(user)?,
        subject: kind.subject.to_string(),
        text: LinkMailText {
            t,
            kind,
            name,
            link,
            expires: expires.clone(),
        }
        .render()?,
        html: LinkMailHtml {
            t,
            kind,
            name,
            link,
            expires,
        }
        .render()?,
    })
}

#[derive(Template)]
#[template(path = "mail/notice.txt")]
struct NoticeMailText<'a> {
    t: &'static MailText,
    notice: &'static NoticeText,
    name: &'a str,
}

#[derive(Template)]
#[template(path = "mail/notice.html")]
struct NoticeMailHtml<'a> {
    t: &'static MailText,
    notice: &'static NoticeText,
    name: &'a str,
}

/// The mail telling `user` of a change to their account, in their language.
pub fn notice_message(notice: Notice, user: &User) -> Result<Outgoing, askama::Error> {
    let t = text_for(user.profile.preferred_language.as_deref());
    let words = match notice {
        Notice::SecondFactorAdded => &t.second_factor_added,
        Notice::SecondFactorRemoved => &t.second_factor_removed,
        Notice::SecondFactorReset => &t.second_factor_reset,
        Notice::PasskeyAdded => &t.passkey_added,
        Notice::PasskeyRemoved => &t.passkey_removed,
    };
    let name = user.name.as_str();
    Ok(Outgoing {
        to: recipient(user)?,
        subject: words.subject.to_string(),
        text: NoticeMailText {
            t,
            notice: words,
            name,
        }
        .render()?,
        html: NoticeMailHtml {
            t,
            notice: words,
            name,
        }
        .render()?,
    })
}
