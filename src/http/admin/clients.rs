//! `/admin/clients`: the registered clients, creating one (checked as `gatehouse client
//! create` checks it; a generated secret is shown once) and deleting one.

use askama::Template;
use poem::http::StatusCode;
use poem::web::{Data, Path};
use poem::{Request, Response, handler};

use super::text::AdminText;
use super::{Admin, AdminForm, done};
use crate::http::pages::render::{OrUnavailable, PageError, Stop, page, query};
use crate::http::pages::text::Text;
use crate::http::{AppState, request_context};
use crate::oauth::{Client, ClientError, GrantType, NewClient, Permission};

struct ClientRow {
    id: String,
    public: bool,
    first_party: bool,
    grants: String,
    scopes: String,
    redirect_uris: Vec<String>,
    permissions: String,
}

impl From<&Client> for ClientRow {
    fn from(c: &Client) -> Self {
        Self {
            id: c.id.clone(),
            public: c.public,
            first_party: c.first_party,
            grants: c
                .grants
                .iter()
                .map(|g| g.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            scopes: c.scopes.to_string(),
            redirect_uris: c.redirect_uris.clone(),
            permissions: Permission::shown(&c.permissions),
        }
    }
}

/// What the creation form holds, kept after a refusal.
#[derive(Default)]
struct Draft {
    id: String,
    public: bool,
    first_party: bool,
    redirect_uris: String,
    grants: Vec<String>,
    scopes: String,
    permissions: Vec<String>,
}

#[derive(Template)]
#[template(path = "admin/clients.html")]
struct ClientsPage<'a> {
    t: &'static Text,
    a: &'static AdminText,
    notice: Option<&'a str>,
    csrf: &'a str,
    clients: Vec<ClientRow>,
    error: Option<String>,
    draft: Draft,
    /// A client just created with a generated secret: shown this once.
    created_secret: Option<(String, String)>,
    grant_names: Vec<&'static str>,
    permission_names: Vec<&'static str>,
}

async fn clients_page(
    state: &AppState,
    admin: &Admin,
    status: StatusCode,
    adjust: impl FnOnce(&mut ClientsPage<'_>),
) -> Result<Response, PageError> {
    let clients = state
        .oauth
        .clients
        .list()
        .await
        .or_unavailable(&admin.ctx)?;
    let mut view = ClientsPage {
        t: admin.ctx.text,
        a: admin.a,
        notice: None,
        csrf: &admin.ctx.csrf,
        clients: clients.iter().map(ClientRow::from).collect(),
        error: None,
        draft: Draft::default(),
        created_secret: None,
        grant_names: GrantType::ALL.iter().map(|g| g.as_str()).collect(),
        permission_names: Permission::ALL.iter().map(|p| p.as_str()).collect(),
    };
    adjust(&mut view);
    Ok(page(&admin.ctx, status, view.render()))
}

/// `GET /admin/clients`
#[handler]
pub async fn admin_clients(
    state: Data<&AppState>,
    req: &Request,
    admin: Admin,
) -> Result<Response, PageError> {
    let a = admin.a;
    let notice = match query(req).get("done").map(String::as_str) {
        Some("deleted") => Some(a.done_client_deleted),
        Some("created") => Some(a.done_client_created),
        _ => None,
    };
    clients_page(&state, &admin, StatusCode::OK, |v| v.notice = notice).await
}

/// The names among `names` whose checkbox (`{prefix}.{name}`) was ticked.
fn ticked(form: &AdminForm, prefix: &str, names: &[&str]) -> Vec<String> {
    names
        .iter()
        .filter(|name| form.fields.get(&format!("{prefix}.{name}")) == Some("yes"))
        .map(|name| name.to_string())
        .collect()
}

/// `POST /admin/clients`: creates a client from the form.
#[handler]
pub async fn admin_client_create(
    state: Data<&AppState>,
    req: &Request,
    form: AdminForm,
) -> Result<Response, PageError> {
    let fields = &form.fields;
    let draft = Draft {
        id: fields.text("id").trim().to_string(),
        public: fields.get("kind") == Some("public"),
        first_party: fields.get("first_party") == Some("yes"),
        redirect_uris: fields.text("redirect_uris"),
        grants: ticked(&form, "grant", &GrantType::ALL.map(GrantType::as_str)),
        scopes: fields.text("scopes"),
        permissions: ticked(
            &form,
            "permission",
            &Permission::ALL.map(Permission::as_str),
        ),
    };
    let new = NewClient {
        id: draft.id.clone(),
        public: draft.public,
        secret: None,
        redirect_uris: lines(&draft.redirect_uris),
        post_logout_redirect_uris: Vec::new(),
        grants: draft.grants.clone(),
        scopes: draft
            .scopes
            .split([' ', ','])
            .filter(|s| !s.is_empty())
            .map(str::to_string)
            .collect(),
        permissions: draft.permissions.clone(),
        first_party: draft.first_party,
    };
    let context = request_context(req);
    let by = form.admin.acting(&context);
    let admin = &form.admin;
    match state.admin.create_client(new, &by).await {
        Ok(Some(secret)) => {
            let shown = (draft.id.clone(), secret.expose().clone());
            clients_page(&state, admin, StatusCode::OK, |v| {
                v.notice = Some(admin.a.done_client_created);
                v.created_secret = Some(shown);
            })
            .await
        }
        Ok(None) => Ok(done("/admin/clients", "created")),
        Err(ClientError::Store(e)) => Err(super::outage(&admin.ctx, e)),
        Err(refused) => {
            let message = refused.to_string();
            clients_page(&state, admin, StatusCode::UNPROCESSABLE_ENTITY, |v| {
                v.error = Some(message);
                v.draft = draft;
            })
            .await
        }
    }
}

fn lines(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

/// `POST /admin/clients/{id}/delete`, after a confirmation.
#[handler]
pub async fn admin_client_delete(
    state: Data<&AppState>,
    req: &Request,
    Path(id): Path<String>,
    form: AdminForm,
) -> Result<Response, PageError> {
    let admin = &form.admin;
    if !form.confirmed() {
        let action = format!(
            "/admin/clients/{}/delete",
            crate::http::pages::render::encode(&id)
        );
        return Ok(super::confirm_page(
            admin,
            admin.a.confirm_delete_client,
            &action,
            Vec::new(),
            "/admin/clients",
        ));
    }
    let context = request_context(req);
    let by = admin.acting(&context);
    match state.admin.delete_client(&id, &by).await {
        Ok(true) => Ok(done("/admin/clients", "deleted")),
        Ok(false) => Err(PageError::new(
            &admin.ctx,
            Stop::Message(StatusCode::NOT_FOUND, admin.a.no_such_client),
        )),
        Err(e) => Err(super::outage(&admin.ctx, e)),
    }
}
