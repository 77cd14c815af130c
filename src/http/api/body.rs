//! JSON request bodies that are documented by a schema but validated by hand, so that a
//! 422 names every invalid field at once instead of the first one a parser trips on.

use std::marker::PhantomData;

use poem::{FromRequest, Request, RequestBody};
use poem_openapi::error::ParseRequestPayloadError;
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde_json::{Map, Value};

use crate::http::problem::FieldError;

/// A JSON object body whose documented shape is `T`.
pub struct JsonBody<T> {
    pub object: Map<String, Value>,
    _schema: PhantomData<T>,
}

impl<T: Type> Payload for JsonBody<T> {
    const CONTENT_TYPE: &'static str = "application/json";

    fn check_content_type(content_type: &str) -> bool {
        matches!(content_type.parse::<mime::Mime>(), Ok(ct) if ct.type_() == "application"
            && (ct.subtype() == "json" || ct.suffix().is_some_and(|s| s == "json")))
    }

    fn schema_ref() -> MetaSchemaRef {
        T::schema_ref()
    }

    fn register(registry: &mut Registry) {
        T::register(registry);
    }
}

impl<T: Send> ParsePayload for JsonBody<T> {
    const IS_REQUIRED: bool = true;

    async fn from_request(req: &Request, body: &mut RequestBody) -> poem::Result<Self> {
        let data = Vec::<u8>::from_request(req, body).await?;
        let value: Value = serde_json::from_slice(&data).map_err(|e| ParseRequestPayloadError {
            reason: format!("the body is not valid JSON: {e}"),
        })?;
        match value {
            Value::Object(object) => Ok(Self {
                object,
                _schema: PhantomData,
            }),
            _ => Err(ParseRequestPayloadError {
                reason: "the body must be a JSON object".into(),
            }
            .into()),
        }
    }
}

poem_openapi::impl_apirequest_for_payload!(JsonBody<T>, T: Type + Send);

/// Reads fields of a JSON object, collecting one error per bad field.
pub struct Fields<'a> {
    object: &'a Map<String, Value>,
    prefix: String,
    pub errors: Vec<FieldError>,
}

impl<'a> Fields<'a> {
    pub fn new(object: &'a Map<String, Value>) -> Self {
        Self {
            object,
            prefix: String::new(),
            errors: Vec::new(),
        }
    }

    /// The same reader over a nested object, with field names like `profile.city`.
    pub fn nested(object: &'a Map<String, Value>, prefix: &str) -> Self {
        Self {
            object,
            prefix: format!("{prefix}."),
            errors: Vec::new(),
        }
    }

    pub fn error(&mut self, field: &str, message: impl Into<String>) {
        self.errors.push(FieldError {
            field: format!("{}{field}", self.prefix),
            message: message.into(),
        });
    }

    /// A string that must be present.
    pub fn required_str(&mut self, field: &str) -> Option<&'a str> {
        match self.object.get(field) {
            None | Some(Value::Null) => {
                self.error(field, "is required");
                None
            }
            Some(Value::String(s)) => Some(s),
            Some(_) => {
                self.error(field, "must be a string");
                None
            }
        }
    }

    /// Absent → `None`; `null` → `Some(None)`; a string → `Some(Some(..))`.
    pub fn optional_str(&mut self, field: &str) -> Option<Option<&'a str>> {
        match self.object.get(field) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(Value::String(s)) => Some(Some(s)),
            Some(_) => {
                self.error(field, "must be a string or null");
                None
            }
        }
    }

    /// Absent → `None`; `null` → `Some(None)`; any other value → `Some(Some(..))`.
    pub fn optional_value(&mut self, field: &str) -> Option<Option<&'a Value>> {
        match self.object.get(field) {
            None => None,
            Some(Value::Null) => Some(None),
            Some(v) => Some(Some(v)),
        }
    }

    /// An optional nested object.
    pub fn optional_object(&mut self, field: &str) -> Option<&'a Map<String, Value>> {
        match self.object.get(field) {
            None | Some(Value::Null) => None,
            Some(Value::Object(o)) => Some(o),
            Some(_) => {
                self.error(field, "must be an object");
                None
            }
        }
    }

    /// Runs a domain parser on a value, recording its complaint under `field`.
    pub fn check<T, E: std::fmt::Display>(
        &mut self,
        field: &str,
        result: Result<T, E>,
    ) -> Option<T> {
        match result {
            Ok(v) => Some(v),
            Err(e) => {
                self.error(field, e.to_string());
                None
            }
        }
    }
}
