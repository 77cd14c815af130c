//! The route table: every path the server answers, with its methods, its metrics label and
//! its surface (how its errors are shaped). The `Allow` header of a 405, the `route` label
//! of the metrics and the error body the pipeline gives a failed request all read it.

use std::sync::Arc;

/// How a route's errors look, and what a 401 without credentials asks for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// RFC 6749 §5.2 JSON errors: the token, revocation and introspection endpoints.
    OAuth,
    /// RFC 9457 problem details; the operation checks its own parameters (by its schema).
    Api(Challenge),
    /// Pages and the other routes outside the OpenAPI document: problem details, and
    /// parameters checked for control characters by the pipeline.
    Page,
}

/// The `WWW-Authenticate` challenge of a 401 from poem or an extractor.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Challenge {
    /// RFC 6750 §3: a bare `Bearer` challenge when no credentials came at all.
    Bearer,
    /// HTTP Basic client credentials, as the introspection endpoint asks.
    Basic,
}

impl Surface {
    /// The plain `/api/v1` surface.
    pub const API: Self = Self::Api(Challenge::Bearer);
}

/// Operations of the OpenAPI service whose surface is not [`Surface::API`], and those its
/// document leaves out (with their methods, since the document cannot tell them).
pub(super) const OPERATIONS: &[(&str, Surface, Option<&[&str]>)] = &[
    ("/oauth2/token", Surface::OAuth, Some(&["POST"])),
    ("/oauth2/revoke", Surface::OAuth, None),
    ("/oauth2/introspect", Surface::OAuth, None),
    ("/api/v1/auth/token", Surface::OAuth, None),
    // Resource servers read the feed with their client credentials.
    ("/api/v1/revocations", Surface::Api(Challenge::Basic), None),
];

/// One route: its template (`/api/v1/admin/users/{id}`, or `/docs/*` for a folder), the
/// methods it answers, its label and its surface.
#[derive(Debug)]
pub struct RouteEntry {
    segments: Vec<String>,
    /// The `Allow` value of a 405.
    pub allow: String,
    /// The metrics label: the template (a folder's path without `/*`), never a request's
    /// ids, so probes cannot create unbounded series.
    pub label: &'static str,
    pub surface: Surface,
}

/// What is known of a request path: its route, if one has that shape.
#[derive(Clone, Copy)]
pub struct Matched<'a> {
    pub route: Option<&'a RouteEntry>,
    pub surface: Surface,
}

impl Matched<'_> {
    pub fn label(&self) -> &'static str {
        self.route.map_or("other", |r| r.label)
    }
}

/// Every route, built once from the OpenAPI document, [`OPERATIONS`] and the routes
/// outside the document.
#[derive(Clone, Default)]
pub struct RouteTable(Arc<[RouteEntry]>);

impl RouteTable {
    /// Route templates with their methods and surface; a template given twice (one path,
    /// methods from two places) is one route.
    pub fn new(routes: impl IntoIterator<Item = (String, Vec<String>, Surface)>) -> Self {
        let mut merged: Vec<(String, Vec<String>, Surface)> = Vec::new();
        for (path, methods, surface) in routes {
            match merged.iter_mut().find(|(p, _, _)| *p == path) {
                Some((_, known, _)) => known.extend(methods),
                None => merged.push((path, methods, surface)),
            }
        }
        let mut entries: Vec<RouteEntry> = merged
            .into_iter()
            .map(|(path, mut methods, surface)| {
                // poem answers HEAD wherever it answers GET.
                if methods.iter().any(|m| m == "GET") {
                    methods.push("HEAD".into());
                }
                methods.sort();
                methods.dedup();
                let label = path.strip_suffix("/*").unwrap_or(&path).to_string();
                RouteEntry {
                    segments: path.split('/').map(str::to_string).collect(),
                    allow: methods.join(", "),
                    // Built once per server: the labels live as long as the metrics.
                    label: Box::leak(label.into_boxed_str()),
                    surface,
                }
            })
            .collect();
        // A fixed path wins over a template of the same shape.
        entries.sort_by_key(|e| e.segments.iter().any(|s| s.starts_with('{') || s == "*"));
        Self(entries.into())
    }

    /// The route of a request path, if one has that shape. A last template segment `*`
    /// stands for any rest of the path (a folder such as `/docs/*`). A path no route has
    /// is on the API's surface under `/api/`, else on the pages'.
    pub fn find(&self, path: &str) -> Matched<'_> {
        let parts: Vec<&str> = path.split('/').collect();
        let route = self.0.iter().find(|entry| {
            let segments = &entry.segments;
            let folder = segments.last().is_some_and(|s| s == "*");
            let fixed = &segments[..segments.len() - usize::from(folder)];
            (parts.len() == segments.len() || folder && parts.len() > fixed.len())
                && fixed.iter().zip(&parts).all(|(template, part)| {
                    template == part
                        || (template.starts_with('{')
                            && template.ends_with('}')
                            && !part.is_empty())
                })
        });
        let surface = match route {
            Some(route) => route.surface,
            None if path.starts_with("/api/") => Surface::API,
            None => Surface::Page,
        };
        Matched { route, surface }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn table() -> RouteTable {
        let route =
            |p: &str, m: &[&str], s| (p.to_string(), m.iter().map(|m| m.to_string()).collect(), s);
        RouteTable::new([
            route("/api/v1/admin/users/{id}", &["GET"], Surface::API),
            route("/api/v1/admin/users/{id}", &["PATCH"], Surface::API),
            route("/api/v1/admin/users/me", &["GET"], Surface::API),
            route("/docs/*", &["GET"], Surface::Page),
            route("/oauth2/token", &["POST"], Surface::OAuth),
        ])
    }

    #[test]
    fn a_path_finds_its_route_label_methods_and_surface() {
        let table = table();
        let user = table.find("/api/v1/admin/users/42");
        assert_eq!(user.label(), "/api/v1/admin/users/{id}");
        assert_eq!(user.route.unwrap().allow, "GET, HEAD, PATCH");
        assert_eq!(
            table.find("/api/v1/admin/users/me").label(),
            "/api/v1/admin/users/me"
        );
        assert_eq!(table.find("/docs/index.html").label(), "/docs");
        assert_eq!(table.find("/oauth2/token").surface, Surface::OAuth);
    }

    #[test]
    fn every_operation_given_a_surface_is_one_of_the_document_or_hidden() {
        use poem_openapi::OpenApi;
        let documented: Vec<String> = <super::super::api::Api as OpenApi>::meta()
            .into_iter()
            .flat_map(|api| api.paths)
            .map(|path| path.path)
            .collect();
        for (path, _, hidden) in OPERATIONS {
            assert_eq!(
                documented.iter().any(|p| p == path),
                hidden.is_none(),
                "{path}"
            );
        }
    }

    #[test]
    fn unknown_paths_share_one_label_and_take_the_surface_of_their_prefix() {
        let table = table();
        let api = table.find("/api/v1/nothing");
        assert_eq!((api.label(), api.surface), ("other", Surface::API));
        let page = table.find("/nothing");
        assert_eq!((page.label(), page.surface), ("other", Surface::Page));
        assert!(table.find("/api/v1/admin/users/").route.is_none());
    }
}
