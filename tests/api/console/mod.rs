//! The admin console over HTTP: who gets in, CSRF on every form, and what each action
//! does (`access`, `people`, `clients_and_keys`, `audit`). The journeys through it in a
//! real browser are in `crate::chromium::console`.

mod access;
mod audit;
mod clients_and_keys;
mod people;

use crate::browser::{Browser, Page};
use crate::helpers::TestApp;

/// A browser signed in as an administrator (`root@example.com`).
pub(crate) async fn administrator(app: &TestApp) -> Browser<'_> {
    let browser = Browser::new(app);
    browser.register("root@example.com").await;
    app.make_admin("root@example.com").await;
    browser
}

/// Posts a console form with this browser's CSRF token.
pub(crate) async fn post(browser: &Browser<'_>, path: &str, fields: &[(&str, &str)]) -> Page {
    let csrf = browser.get("/account").await.csrf();
    let mut form = vec![("csrf", csrf.as_str())];
    form.extend_from_slice(fields);
    browser.post(path, &form).await
}

/// The id in `/admin/users/{id}` of the person with `email`, found through the console.
pub(crate) async fn person_path(browser: &Browser<'_>, email: &str) -> String {
    let list = browser
        .get(&format!("/admin/users?q={}", crate::browser::enc(email)))
        .await;
    let start = list
        .body
        .find("/admin/users/")
        .expect("a person in the list");
    list.body[start..].split('"').next().unwrap().to_string()
}
