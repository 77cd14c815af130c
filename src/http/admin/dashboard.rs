//! `GET /admin`: the figures an operator wants first, and sign-ins per hour as charts.

use askama::Template;
use poem::http::StatusCode;
use poem::web::Data;
use poem::{Response, handler};

use super::Admin;
use super::charts::bars;
use super::text::AdminText;
use crate::auth::Overview;
use crate::http::AppState;
use crate::http::pages::render::{OrUnavailable, PageError, page};
use crate::http::pages::text::Text;

#[derive(Template)]
#[template(path = "admin/dashboard.html")]
struct DashboardPage<'a> {
    t: &'static Text,
    a: &'static AdminText,
    notice: Option<&'a str>,
    o: Overview,
    key_age_days: Option<i64>,
    sign_ins_chart: String,
    failures_chart: String,
}

/// `GET /admin`
#[handler]
pub async fn admin_dashboard(state: Data<&AppState>, admin: Admin) -> Result<Response, PageError> {
    let o = state
        .dashboard
        .overview()
        .await
        .or_unavailable(&admin.ctx)?;
    let key_age_days = o
        .active_key
        .as_ref()
        .map(|(_, created)| (o.at - *created).num_days());
    let view = DashboardPage {
        t: admin.ctx.text,
        a: admin.a,
        notice: None,
        sign_ins_chart: bars(&o.sign_ins, admin.a.sign_ins_per_hour, "#2d6cdf"),
        failures_chart: bars(&o.failures, admin.a.failures_per_hour, "#c0392b"),
        key_age_days,
        o,
    };
    Ok(page(&admin.ctx, StatusCode::OK, view.render()))
}
