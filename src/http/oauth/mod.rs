//! The OAuth endpoints a browser visits: authorization (`/oauth2/authorize`) and
//! RP-initiated logout (`/oauth2/logout`). They answer with the pages' HTML; the token,
//! revocation and introspection endpoints, which answer clients in JSON, are in the API.

mod authorize;
mod logout;

pub use authorize::authorization_endpoint;
pub use logout::end_session_endpoint;
