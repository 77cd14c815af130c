//! HTML pages: sign-in, registration, sign-out, the account and mailed links. They work
//! without JavaScript. The OAuth endpoints a browser visits (`http::oauth`) render with
//! the same parts.

mod account;
pub(super) mod browser;
pub(super) mod form;
mod links;
pub(super) mod login;
pub(super) mod logout;
mod passkeys;
pub mod qr;
mod register;
pub(super) mod render;
mod second_factor;
pub(super) mod text;

use poem::{Response, handler};

pub use account::{
    account_end_others, account_end_session, account_page, account_password, account_profile,
};
pub use links::{
    forgot_password_form, forgot_password_submit, reset_password_form, reset_password_submit,
    verify_email, verify_email_submit,
};
pub use login::{login_form, login_submit};
pub use logout::{logout_form, logout_submit};
pub use passkeys::{
    account_passkey_finish, account_passkey_remove, account_passkey_start, passkey_sign_in_finish,
    passkey_sign_in_start, passkey_step_finish, passkey_step_start,
};
pub use register::{register_form, register_submit};
pub use second_factor::{
    account_recovery_codes, account_totp_confirm, account_totp_remove, account_totp_start,
};

/// `GET /static/passkeys.js`, compiled into the binary: the pages' only script, a plain
/// ES module for passkeys.
#[handler]
pub fn passkeys_script() -> Response {
    Response::builder()
        .content_type("text/javascript; charset=utf-8")
        .header("cache-control", "public, max-age=3600")
        .body(include_str!("../../../static/passkeys.js"))
}

/// `GET /static/gatehouse.css`, compiled into the binary.
#[handler]
pub fn stylesheet() -> Response {
    Response::builder()
        .content_type("text/css; charset=utf-8")
        .header("cache-control", "public, max-age=3600")
        .body(include_str!("../../../static/gatehouse.css"))
}
