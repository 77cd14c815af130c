//! The words on the pages, in English and French.

use crate::oauth::Untrusted;

/// One language's texts.
pub struct Text {
    pub lang: &'static str,
    pub sign_in: &'static str,
    pub sign_out: &'static str,
    pub signed_out: &'static str,
    pub create_account: &'static str,
    pub have_account: &'static str,
    pub email: &'static str,
    pub name: &'static str,
    pub password: &'static str,
    pub password_confirm: &'static str,
    pub passwords_differ: &'static str,
    pub bad_credentials: &'static str,
    pub second_factor: &'static str,
    pub second_factor_help: &'static str,
    pub code: &'static str,
    pub wrong_code: &'static str,
    pub second_factor_expired: &'static str,
    pub scan_qr: &'static str,
    pub or_type_secret: &'static str,
    pub turn_on: &'static str,
    pub turn_off: &'static str,
    pub mfa_on: &'static str,
    pub mfa_off: &'static str,
    pub recovery_codes_help: &'static str,
    pub recovery_codes_left: &'static str,
    pub new_recovery_codes: &'static str,
    pub set_up_totp: &'static str,
    pub mfa_removed: &'static str,
    pub mfa_setup_required: &'static str,
    pub turn_on_and_sign_in: &'static str,
    pub continue_on: &'static str,
    pub mfa_required_by_role: &'static str,
    pub passkeys: &'static str,
    pub sign_in_with_passkey: &'static str,
    pub use_passkey: &'static str,
    pub use_passkey_instead: &'static str,
    pub passkey_name: &'static str,
    pub add_passkey: &'static str,
    pub remove: &'static str,
    pub passkey_failed: &'static str,
    pub passkey_taken: &'static str,
    pub passkey_name_invalid: &'static str,
    pub passkey_added: &'static str,
    pub passkey_removed: &'static str,
    pub no_passkeys: &'static str,
    pub passkey_needs_script: &'static str,
    pub created: &'static str,
    pub never_used: &'static str,
    pub or_word: &'static str,
    pub account_disabled: &'static str,
    pub email_taken: &'static str,
    pub unavailable: &'static str,
    pub too_many: &'static str,
    pub consent_title: &'static str,
    pub consent_asks: &'static str,
    pub signed_in_as: &'static str,
    pub allow: &'static str,
    pub deny: &'static str,
    pub error_title: &'static str,
    pub bad_form: &'static str,
    pub account: &'static str,
    pub profile: &'static str,
    pub country: &'static str,
    pub city: &'static str,
    pub language: &'static str,
    pub save: &'static str,
    pub saved: &'static str,
    pub change_password: &'static str,
    pub current_password: &'static str,
    pub new_password: &'static str,
    pub wrong_password: &'static str,
    pub password_changed: &'static str,
    /// Shown while the account holds a password the old service's bcrypt read only part of.
    pub choose_new_password: &'static str,
    pub email_verified_title: &'static str,
    pub email_verified: &'static str,
    pub verify_link_invalid: &'static str,
    pub forgot_link: &'static str,
    pub email_unverified: &'static str,
    pub send_new_link: &'static str,
    pub address_unverified: &'static str,
    pub resend_title: &'static str,
    pub resend_intro: &'static str,
    pub resend_requested: &'static str,
    pub forgot_title: &'static str,
    pub forgot_intro: &'static str,
    pub send_link: &'static str,
    pub reset_requested: &'static str,
    pub reset_title: &'static str,
    pub reset_done: &'static str,
    pub reset_link_invalid: &'static str,
    pub sessions: &'static str,
    pub device: &'static str,
    pub last_used: &'static str,
    pub this_session: &'static str,
    pub end_session: &'static str,
    pub end_others: &'static str,
    pub sessions_ended: &'static str,
    pub browser: &'static str,
    pub scope_openid: &'static str,
    pub scope_profile: &'static str,
    pub scope_email: &'static str,
    /// An authorization request that names a parameter twice; `{name}` is the parameter.
    pub request_repeated: &'static str,
    pub request_no_client: &'static str,
    pub request_unknown_client: &'static str,
    pub request_no_redirect_uri: &'static str,
    pub request_unregistered_redirect_uri: &'static str,
    pub request_unusable_value: &'static str,
    pub logout_hint_invalid: &'static str,
    pub logout_client_mismatch: &'static str,
    pub logout_redirect_needs_client: &'static str,
    pub logout_redirect_unregistered: &'static str,
}

impl Text {
    /// What a scope lets the application do, in words; other scopes by name.
    pub fn describe_scope<'a>(&self, scope: &'a str) -> &'a str {
        match scope {
            "openid" => self.scope_openid,
            "profile" => self.scope_profile,
            "email" => self.scope_email,
            other => other,
        }
    }

    /// Why an authorization request is not sent back to its client, in words.
    pub fn untrusted(&self, why: Untrusted) -> String {
        match why {
            Untrusted::Repeated(name) => self.request_repeated.replace("{name}", name),
            Untrusted::NoClient => self.request_no_client.into(),
            Untrusted::UnknownClient => self.request_unknown_client.into(),
            Untrusted::NoRedirectUri => self.request_no_redirect_uri.into(),
            Untrusted::UnregisteredRedirectUri => self.request_unregistered_redirect_uri.into(),
            Untrusted::UnusableValue => self.request_unusable_value.into(),
        }
    }
}

pub const EN: Text = Text {
    lang: "en",
    sign_in: "Sign in",
    sign_out: "Sign out",
    signed_out: "You are signed out",
    create_account: "Create an account",
    have_account: "Already have an account? Sign in",
    email: "Email",
    name: "Name",
    password: "Password",
    password_confirm: "Repeat the password",
    passwords_differ: "The two passwords differ.",
    bad_credentials: "The email or password is wrong.",
    second_factor: "Second factor",
    second_factor_help: "Enter the six digits your authenticator app shows, or one of your recovery codes.",
    code: "Code",
    wrong_code: "This code is not right, or has been used already.",
    second_factor_expired: "This sign-in took too long. Sign in again.",
    scan_qr: "Scan this code with your authenticator app, then enter the six digits it shows.",
    or_type_secret: "Or type this key into the app:",
    turn_on: "Turn on",
    turn_off: "Turn off the second factor",
    mfa_on: "A second factor is on: signing in asks for a code from your authenticator app.",
    mfa_off: "No second factor: signing in asks only for your password.",
    recovery_codes_help: "Your recovery codes, shown this once: keep them somewhere safe. Each signs you in once if you lose your phone.",
    recovery_codes_left: "Recovery codes left:",
    new_recovery_codes: "New recovery codes",
    set_up_totp: "Set up an authenticator app",
    mfa_removed: "The second factor is off.",
    mfa_setup_required: "This sign-in needs a second factor, and your account has none yet. Set up an authenticator app to finish signing in.",
    turn_on_and_sign_in: "Turn on and sign in",
    continue_on: "Continue",
    mfa_required_by_role: "Your role requires a second factor: it cannot be turned off.",
    passkeys: "Passkeys",
    sign_in_with_passkey: "Sign in with a passkey",
    use_passkey: "Use a passkey instead",
    use_passkey_instead: "Your account has no authenticator app: use your passkey.",
    passkey_name: "Name of the passkey",
    add_passkey: "Add a passkey",
    remove: "Remove",
    passkey_failed: "The passkey could not be used. Try again, or sign in another way.",
    passkey_taken: "This passkey is registered already.",
    passkey_name_invalid: "Give the passkey a name of 1 to 64 characters.",
    passkey_added: "The passkey was added: it signs you in without a password.",
    passkey_removed: "The passkey was removed.",
    no_passkeys: "No passkey yet. A passkey signs you in with your device’s screen lock instead of a password.",
    passkey_needs_script: "Adding or using a passkey needs JavaScript in this browser.",
    created: "Added",
    never_used: "never",
    or_word: "or",
    account_disabled: "This account is disabled.",
    email_taken: "An account with this email already exists.",
    unavailable: "The service is temporarily unavailable. Please try again in a moment.",
    too_many: "Too many attempts. Please wait a little before trying again.",
    consent_title: "Allow access?",
    consent_asks: "asks to use your account with these permissions:",
    signed_in_as: "Signed in as",
    allow: "Allow",
    deny: "Deny",
    error_title: "Something went wrong",
    bad_form: "The form expired or was sent from elsewhere. Go back, reload the page and try again.",
    account: "Your account",
    profile: "Profile",
    country: "Country",
    city: "City",
    language: "Preferred language (en, fr, …)",
    save: "Save",
    saved: "Saved.",
    change_password: "Change password",
    current_password: "Current password",
    new_password: "New password",
    wrong_password: "This is not your current password.",
    password_changed: "Password changed. Your other sessions were signed out.",
    choose_new_password: "Your password is longer than the previous service could store safely: please choose a new password below.",
    email_verified_title: "Email address confirmed",
    email_verified: "Thank you: your email address is confirmed.",
    verify_link_invalid: "This link is not valid: it was already used, it has expired, or the address changed since it was sent.",
    forgot_link: "Forgot your password?",
    email_unverified: "Your email address is not verified yet: open the link we mailed to it before signing in.",
    send_new_link: "Send me a new link",
    address_unverified: "Your email address is not confirmed yet.",
    resend_title: "Confirm your email address",
    resend_intro: "Enter the address of your account; if it still needs confirming, we will mail you a new link.",
    resend_requested: "If an account with this address still needs confirming, a new link is on its way. Check your mailbox.",
    forgot_title: "Reset your password",
    forgot_intro: "Enter the address of your account; we will mail you a link to choose a new password.",
    send_link: "Send the link",
    reset_requested: "If an account has this address, a link to reset its password is on its way. Check your mailbox.",
    reset_title: "Choose a new password",
    reset_done: "Your password is changed and every session of your account was signed out. Sign in with the new password.",
    reset_link_invalid: "This link is not valid: it was already used or it has expired. Ask for a new one.",
    sessions: "Where you are signed in",
    device: "Device",
    last_used: "Last used",
    this_session: "This session",
    end_session: "Sign out",
    end_others: "Sign out everywhere else",
    sessions_ended: "Signed out.",
    browser: "Web browser",
    scope_openid: "Sign you in with your Gatehouse account",
    scope_profile: "See your name and preferred language",
    scope_email: "See your email address",
    request_repeated: "The request names {name} more than once; each parameter may appear once.",
    request_no_client: "The request names no client (client_id).",
    request_unknown_client: "The application that sent you here is not known to this server.",
    request_no_redirect_uri: "The request names no redirect_uri.",
    request_unregistered_redirect_uri: "The application asked to send you to an address it has not registered.",
    request_unusable_value: "The request holds a value that cannot be used.",
    logout_hint_invalid: "The id_token_hint is not a valid ID token of this server.",
    logout_client_mismatch: "client_id does not match the id_token_hint.",
    logout_redirect_needs_client: "post_logout_redirect_uri needs id_token_hint or client_id.",
    logout_redirect_unregistered: "post_logout_redirect_uri is not registered.",
};

pub const FR: Text = Text {
    lang: "fr",
    sign_in: "Se connecter",
    sign_out: "Se déconnecter",
    signed_out: "Vous êtes déconnecté",
    create_account: "Créer un compte",
    have_account: "Déjà un compte ? Se connecter",
    email: "Adresse e-mail",
    name: "Nom",
    password: "Mot de passe",
    password_confirm: "Répétez le mot de passe",
    passwords_differ: "Les deux mots de passe diffèrent.",
    bad_credentials: "L’adresse e-mail ou le mot de passe est incorrect.",
    second_factor: "Second facteur",
    second_factor_help: "Saisissez les six chiffres affichés par votre application d’authentification, ou l’un de vos codes de secours.",
    code: "Code",
    wrong_code: "Ce code est incorrect, ou a déjà servi.",
    second_factor_expired: "Cette connexion a pris trop de temps. Reconnectez-vous.",
    scan_qr: "Scannez ce code avec votre application d’authentification, puis saisissez les six chiffres qu’elle affiche.",
    or_type_secret: "Ou saisissez cette clé dans l’application :",
    turn_on: "Activer",
    turn_off: "Désactiver le second facteur",
    mfa_on: "Un second facteur est actif : la connexion demande un code de votre application d’authentification.",
    mfa_off: "Pas de second facteur : la connexion ne demande que votre mot de passe.",
    recovery_codes_help: "Vos codes de secours, affichés cette seule fois : gardez-les en lieu sûr. Chacun vous connecte une fois si vous perdez votre téléphone.",
    recovery_codes_left: "Codes de secours restants :",
    new_recovery_codes: "Nouveaux codes de secours",
    set_up_totp: "Configurer une application d’authentification",
    mfa_removed: "Le second facteur est désactivé.",
    mfa_setup_required: "Cette connexion demande un second facteur, et votre compte n’en a pas encore. Configurez une application d’authentification pour terminer la connexion.",
    turn_on_and_sign_in: "Activer et se connecter",
    continue_on: "Continuer",
    mfa_required_by_role: "Votre rôle exige un second facteur : il ne peut pas être désactivé.",
    passkeys: "Clés d’accès",
    sign_in_with_passkey: "Se connecter avec une clé d’accès",
    use_passkey: "Utiliser plutôt une clé d’accès",
    use_passkey_instead: "Votre compte n’a pas d’application d’authentification : utilisez votre clé d’accès.",
    passkey_name: "Nom de la clé d’accès",
    add_passkey: "Ajouter une clé d’accès",
    remove: "Retirer",
    passkey_failed: "La clé d’accès n’a pas pu servir. Réessayez, ou connectez-vous autrement.",
    passkey_taken: "Cette clé d’accès est déjà enregistrée.",
    passkey_name_invalid: "Donnez à la clé d’accès un nom de 1 à 64 caractères.",
    passkey_added: "La clé d’accès a été ajoutée : elle vous connecte sans mot de passe.",
    passkey_removed: "La clé d’accès a été retirée.",
    no_passkeys: "Pas encore de clé d’accès. Une clé d’accès vous connecte avec le verrouillage d’écran de votre appareil au lieu d’un mot de passe.",
    passkey_needs_script: "Ajouter ou utiliser une clé d’accès demande JavaScript dans ce navigateur.",
    created: "Ajoutée",
    never_used: "jamais",
    or_word: "ou",
    account_disabled: "Ce compte est désactivé.",
    email_taken: "Un compte existe déjà avec cette adresse.",
    unavailable: "Le service est momentanément indisponible. Réessayez dans un instant.",
    too_many: "Trop de tentatives. Patientez un peu avant de réessayer.",
    consent_title: "Autoriser l’accès ?",
    consent_asks: "demande à utiliser votre compte avec ces autorisations :",
    signed_in_as: "Connecté en tant que",
    allow: "Autoriser",
    deny: "Refuser",
    error_title: "Un problème est survenu",
    bad_form: "Le formulaire a expiré ou vient d’ailleurs. Revenez en arrière, rechargez la page et réessayez.",
    account: "Votre compte",
    profile: "Profil",
    country: "Pays",
    city: "Ville",
    language: "Langue préférée (fr, en, …)",
    save: "Enregistrer",
    saved: "Enregistré.",
    change_password: "Changer de mot de passe",
    current_password: "Mot de passe actuel",
    new_password: "Nouveau mot de passe",
    wrong_password: "Ce n’est pas votre mot de passe actuel.",
    password_changed: "Mot de passe changé. Vos autres sessions ont été déconnectées.",
    choose_new_password: "Votre mot de passe est plus long que ce que l’ancien service savait conserver sûrement : veuillez en choisir un nouveau ci-dessous.",
    email_verified_title: "Adresse e-mail confirmée",
    email_verified: "Merci : votre adresse e-mail est confirmée.",
    verify_link_invalid: "Ce lien n'est pas valable : il a déjà servi, il a expiré, ou l'adresse a changé depuis son envoi.",
    forgot_link: "Mot de passe oublié ?",
    email_unverified: "Votre adresse e-mail n'est pas encore confirmée : ouvrez le lien que nous y avons envoyé avant de vous connecter.",
    send_new_link: "M'envoyer un nouveau lien",
    address_unverified: "Votre adresse e-mail n'est pas encore confirmée.",
    resend_title: "Confirmer votre adresse e-mail",
    resend_intro: "Saisissez l'adresse de votre compte ; si elle doit encore être confirmée, nous vous enverrons un nouveau lien.",
    resend_requested: "Si un compte avec cette adresse doit encore être confirmé, un nouveau lien est en route. Consultez votre messagerie.",
    forgot_title: "Réinitialiser votre mot de passe",
    forgot_intro: "Saisissez l'adresse de votre compte ; nous vous enverrons un lien pour choisir un nouveau mot de passe.",
    send_link: "Envoyer le lien",
    reset_requested: "Si un compte a cette adresse, un lien pour réinitialiser son mot de passe est en route. Consultez votre messagerie.",
    reset_title: "Choisir un nouveau mot de passe",
    reset_done: "Votre mot de passe est changé et toutes les sessions de votre compte ont été déconnectées. Connectez-vous avec le nouveau mot de passe.",
    reset_link_invalid: "Ce lien n'est pas valable : il a déjà servi ou il a expiré. Demandez-en un nouveau.",
    sessions: "Où vous êtes connecté",
    device: "Appareil",
    last_used: "Dernière utilisation",
    this_session: "Cette session",
    end_session: "Déconnecter",
    end_others: "Se déconnecter partout ailleurs",
    sessions_ended: "Déconnecté.",
    browser: "Navigateur web",
    scope_openid: "Vous connecter avec votre compte Gatehouse",
    scope_profile: "Voir votre nom et votre langue préférée",
    scope_email: "Voir votre adresse e-mail",
    request_repeated: "La requête indique {name} plus d'une fois ; chaque paramètre ne peut y figurer qu'une fois.",
    request_no_client: "La requête n'indique aucune application (client_id).",
    request_unknown_client: "L'application qui vous a envoyé ici n'est pas connue de ce serveur.",
    request_no_redirect_uri: "La requête n'indique aucune adresse de retour (redirect_uri).",
    request_unregistered_redirect_uri: "L'application demande à vous envoyer vers une adresse qu'elle n'a pas enregistrée.",
    request_unusable_value: "La requête contient une valeur inutilisable.",
    logout_hint_invalid: "Le id_token_hint n'est pas un jeton d'identité valide de ce serveur.",
    logout_client_mismatch: "Le client_id ne correspond pas au id_token_hint.",
    logout_redirect_needs_client: "Le post_logout_redirect_uri demande un id_token_hint ou un client_id.",
    logout_redirect_unregistered: "Le post_logout_redirect_uri n'est pas enregistré.",
};

/// The account's language if known, else the first supported one the browser asks for.
pub fn choose(preferred: Option<&str>, accept_language: Option<&str>) -> &'static Text {
    let pick = |tag: &str| {
        let primary = tag
            .split(['-', '_'])
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        match primary.as_str() {
            "fr" => Some(&FR),
            "en" => Some(&EN),
            _ => None,
        }
    };
    if let Some(text) = preferred.and_then(pick) {
        return text;
    }
    let mut offers: Vec<(f32, &str)> = accept_language
        .unwrap_or("")
        .split(',')
        .filter_map(|part| {
            let mut pieces = part.split(';');
            let tag = pieces.next()?.trim();
            let q = pieces
                .find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.parse().ok()))
                .unwrap_or(1.0);
            (!tag.is_empty()).then_some((q, tag))
        })
        .collect();
    offers.sort_by(|a, b| b.0.total_cmp(&a.0));
    offers
        .into_iter()
        .find_map(|(_, tag)| pick(tag))
        .unwrap_or(&EN)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_account_language_wins_then_the_browsers() {
        assert_eq!(choose(Some("fr"), Some("en")).lang, "fr");
        assert_eq!(
            choose(None, Some("de-DE, fr-CA;q=0.8, en;q=0.5")).lang,
            "fr"
        );
        assert_eq!(choose(None, Some("en;q=0.9, fr;q=0.95")).lang, "fr");
        assert_eq!(choose(None, Some("de")).lang, "en");
        assert_eq!(choose(Some("pt-BR"), None).lang, "en");
    }

    #[test]
    fn an_untrusted_request_is_told_in_each_language_with_its_parameter() {
        let why = Untrusted::Repeated("redirect_uri");
        assert_eq!(
            EN.untrusted(why),
            "The request names redirect_uri more than once; each parameter may appear once."
        );
        assert!(FR.untrusted(why).contains("redirect_uri plus d'une fois"));
        assert_ne!(
            EN.untrusted(Untrusted::UnknownClient),
            FR.untrusted(Untrusted::UnknownClient)
        );
    }
}
