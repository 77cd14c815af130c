//! CORS for the origins of `GATEHOUSE_CORS_ORIGINS`, and nothing else: requests from
//! other origins are served as if CORS were off, never refused for their `Origin`.

use std::sync::Arc;

use poem::http::{Method, header};
use poem::middleware::Cors;
use poem::{Endpoint, IntoResponse, Middleware, Request, Response};

/// Browsers send `Origin` on every POST, Gatehouse's own sign-in and consent forms
/// included, and on form posts that other sites' pages make to `/oauth2/authorize` and
/// `/oauth2/logout`. poem's `Cors` answers 403 to any origin it does not know, which
/// would break all of those; here only listed origins (and preflights, which only
/// cross-origin scripts send) reach it. Unlisted origins get no CORS headers, so their
/// scripts still cannot read the answers (the Fetch standard's rule, not ours).
pub struct AllowedOrigins {
    origins: Vec<String>,
}

impl AllowedOrigins {
    /// `origins` as configured; `*` allows any.
    pub fn new(origins: &[String]) -> Self {
        Self {
            origins: origins.to_vec(),
        }
    }

    fn cors(&self) -> Cors {
        let cors = Cors::new()
            .allow_methods(["GET", "POST", "PATCH", "DELETE"])
            .allow_headers(["authorization", "content-type"])
            .max_age(600);
        if self.any() {
            // No credentials with a wildcard; bearer tokens travel in headers anyway.
            cors.allow_credentials(false)
        } else {
            cors.allow_origins(self.origins.iter().map(String::as_str))
        }
    }

    fn any(&self) -> bool {
        self.origins.iter().any(|o| o == "*")
    }
}

impl<E: Endpoint> Middleware<E> for AllowedOrigins {
    type Output = AllowedOriginsEndpoint<E>;

    fn transform(&self, ep: E) -> Self::Output {
        let inner = Arc::new(ep);
        AllowedOriginsEndpoint {
            cors: self.cors().transform(inner.clone()),
            inner,
            origins: self.origins.clone(),
            any: self.any(),
        }
    }
}

pub struct AllowedOriginsEndpoint<E: Endpoint> {
    inner: Arc<E>,
    cors: <Cors as Middleware<Arc<E>>>::Output,
    origins: Vec<String>,
    any: bool,
}

impl<E: Endpoint> Endpoint for AllowedOriginsEndpoint<E> {
    type Output = Response;

    async fn call(&self, req: Request) -> poem::Result<Self::Output> {
        let listed = req
            .headers()
            .get(header::ORIGIN)
            .and_then(|o| o.to_str().ok())
            .is_some_and(|o| self.any || self.origins.iter().any(|allowed| allowed == o));
        let preflight = req.method() == Method::OPTIONS
            && req
                .headers()
                .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD);
        // Every answer then varies on Origin: the pipeline says so, error answers included.
        if listed || preflight {
            self.cors.call(req).await
        } else {
            Ok(self.inner.call(req).await?.into_response())
        }
    }
}
