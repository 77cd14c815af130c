//! The JSON shapes of the API, as documented in the OpenAPI document.

use chrono::{DateTime, Utc};
use poem_openapi::Object;
use serde_json::{Map, Value};

use super::body::Fields;
use crate::auth::Registration;
use crate::domain::Role;
use crate::domain::{Email, Password, Profile, ProfilePatch, User, UserName};

/// An account as its owner and administrators see it. Never carries the password hash.
#[derive(Debug, Object)]
#[oai(rename = "User")]
pub struct UserView {
    pub id: String,
    pub email: String,
    pub name: String,
    pub email_verified: bool,
    pub roles: Vec<String>,
    pub disabled: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub profile: ProfileView,
    /// The old service's integer user id, for accounts imported from it with one.
    #[oai(skip_serializing_if_is_none)]
    pub legacy_id: Option<i64>,
}

/// What the coaching API knows about a person.
#[derive(Debug, Object)]
#[oai(rename = "Profile")]
pub struct ProfileView {
    #[oai(nullable)]
    pub country: Option<String>,
    #[oai(nullable)]
    pub city: Option<String>,
    /// A free-form JSON object.
    #[oai(nullable)]
    pub business_context: Option<Value>,
    /// A BCP 47 language tag such as `en` or `fr`.
    #[oai(nullable)]
    pub preferred_language: Option<String>,
}

impl From<User> for UserView {
    fn from(user: User) -> Self {
        Self {
            id: user.id.to_string(),
            email: user.email.to_string(),
            name: user.name.to_string(),
            email_verified: user.email_verified,
            roles: Role::names(&user.roles),
            disabled: user.disabled,
            created_at: user.created_at,
            updated_at: user.updated_at,
            profile: ProfileView {
                country: user.profile.country,
                city: user.profile.city,
                business_context: user.profile.business_context,
                preferred_language: user.profile.preferred_language,
            },
            legacy_id: user.legacy_id,
        }
    }
}

/// Profile fields in a request; each one given replaces the stored one, and `null`
/// (or an empty string) clears it. The constraints below are documentation: the body
/// is validated by hand, so that a 422 names every invalid field at once.
#[derive(Debug, Object)]
#[oai(rename = "ProfileInput")]
pub struct ProfileInput {
    /// At most 100 characters, no control characters.
    #[oai(
        nullable,
        validator(max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub country: Option<String>,
    /// At most 100 characters, no control characters.
    #[oai(
        nullable,
        validator(max_length = 100, pattern = r"^[^\x00-\x1f\x7f-\x9f]*$")
    )]
    pub city: Option<String>,
    /// A JSON object of at most 16 KiB.
    #[oai(nullable)]
    pub business_context: Option<std::collections::BTreeMap<String, Value>>,
    /// A BCP 47 language tag such as `en`, `fr` or `pt-BR`.
    #[oai(
        nullable,
        validator(max_length = 35, pattern = r"^([A-Za-z]{1,8}(-[A-Za-z0-9]{1,8})*)?$")
    )]
    pub preferred_language: Option<String>,
}

/// A new account. Unknown fields (such as `roles`) are ignored.
#[derive(Debug, Object)]
#[oai(rename = "RegisterRequest")]
pub struct RegisterRequest {
    /// The sign-in name: `local@domain`, at most 254 bytes (64 before the `@`), with a
    /// domain of at least two labels of letters, digits and `-`. International
    /// characters are allowed on both sides (RFC 6531): local part and domain labels are
    /// PRECIS identifiers (RFC 8265 UsernameCaseMapped); spaces, control, zero-width,
    /// bidi-control, BOM and non-character code points are not. Stored lower-cased and
    /// NFC-normalized; unique on its case-folded NFKC form. No `pattern`: no regular
    /// expression can state this rule without refusing valid addresses.
    #[oai(validator(max_length = 254))]
    pub email: String,
    /// 1 to 100 characters, not only spaces, no control characters; a PRECIS nickname
    /// (RFC 8266): spaces trimmed and collapsed, NFKC-normalized, and zero-width,
    /// bidi-control, BOM and non-character code points refused.
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub name: String,
    /// 8 to 128 characters (after Unicode NFKC normalisation); never trimmed.
    #[oai(validator(min_length = 8, max_length = 128))]
    pub password: String,
    #[oai(nullable)]
    pub profile: Option<ProfileInput>,
}

/// Changes to the signed-in user; fields not given are left alone.
#[derive(Debug, Object)]
#[oai(rename = "UpdateMeRequest")]
pub struct UpdateMeRequest {
    /// 1 to 100 characters, not only spaces, no control characters.
    #[oai(validator(
        max_length = 100,
        pattern = r"^[^\x00-\x1f\x7f-\x9f]*[^\s\x00-\x1f\x7f-\x9f][^\x00-\x1f\x7f-\x9f]*$"
    ))]
    pub name: Option<String>,
    #[oai(nullable)]
    pub profile: Option<ProfileInput>,
}

/// Validates a registration body, naming every invalid field.
pub fn parse_registration(
    object: &Map<String, Value>,
) -> Result<Registration, Vec<crate::http::problem::FieldError>> {
    let mut fields = Fields::new(object);
    let email = fields
        .required_str("email")
        .and_then(|v| fields_check(&mut fields, "email", Email::parse(v)));
    let name = fields
        .required_str("name")
        .and_then(|v| fields_check(&mut fields, "name", UserName::parse(v)));
    let password = fields
        .required_str("password")
        .and_then(|v| fields_check(&mut fields, "password", Password::parse(v)));
    let mut errors = std::mem::take(&mut fields.errors);
    let patch = match fields.optional_object("profile") {
        Some(profile) => parse_profile(profile, &mut errors),
        None => ProfilePatch::default(),
    };
    errors.append(&mut fields.errors);
    match (email, name, password) {
        (Some(email), Some(name), Some(password)) if errors.is_empty() => {
            let mut profile = Profile::default();
            patch.apply(&mut profile);
            Ok(Registration {
                email,
                name,
                password,
                profile,
            })
        }
        _ => Err(errors),
    }
}

/// Validates a `PATCH /me` body.
pub fn parse_update_me(
    object: &Map<String, Value>,
) -> Result<(Option<UserName>, ProfilePatch), Vec<crate::http::problem::FieldError>> {
    let mut fields = Fields::new(object);
    let name = match fields.optional_str("name") {
        Some(Some(v)) => fields_check(&mut fields, "name", UserName::parse(v)),
        Some(None) => {
            fields.error("name", "must not be null");
            None
        }
        None => None,
    };
    let mut errors = std::mem::take(&mut fields.errors);
    let patch = match fields.optional_object("profile") {
        Some(profile) => parse_profile(profile, &mut errors),
        None => ProfilePatch::default(),
    };
    errors.append(&mut fields.errors);
    if errors.is_empty() {
        Ok((name, patch))
    } else {
        Err(errors)
    }
}

fn fields_check<T, E: std::fmt::Display>(
    fields: &mut Fields<'_>,
    field: &str,
    r: Result<T, E>,
) -> Option<T> {
    fields.check(field, r)
}

fn parse_profile(
    object: &Map<String, Value>,
    errors: &mut Vec<crate::http::problem::FieldError>,
) -> ProfilePatch {
    let mut fields = Fields::nested(object, "profile");
    let mut patch = ProfilePatch::default();
    if let Some(v) = fields.optional_str("country") {
        patch.country = text_field(&mut fields, "country", v, Profile::parse_country);
    }
    if let Some(v) = fields.optional_str("city") {
        patch.city = text_field(&mut fields, "city", v, Profile::parse_city);
    }
    if let Some(v) = fields.optional_str("preferred_language") {
        patch.preferred_language = text_field(
            &mut fields,
            "preferred_language",
            v,
            Profile::parse_language,
        );
    }
    if let Some(v) = fields.optional_value("business_context") {
        patch.business_context = match v {
            None => Some(None),
            Some(v) => fields
                .check("business_context", Profile::parse_business_context(v))
                .map(Some),
        };
    }
    errors.append(&mut fields.errors);
    patch
}

/// A nullable text field: `null` or an empty string clears it.
fn text_field(
    fields: &mut Fields<'_>,
    name: &str,
    value: Option<&str>,
    parse: impl FnOnce(&str) -> Result<String, crate::domain::Invalid>,
) -> Option<Option<String>> {
    match value {
        None => Some(None),
        Some(v) if v.trim().is_empty() => Some(None),
        Some(v) => fields.check(name, parse(v)).map(Some),
    }
}

/// The answer of an operation that changes something and has nothing to say.
#[derive(poem_openapi::ApiResponse)]
pub enum Done {
    /// Done.
    #[oai(status = 204)]
    NoContent,
}
