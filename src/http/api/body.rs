//! JSON request bodies that are documented by a schema but validated by hand, so that a
//! 422 names every invalid field at once instead of the first one a parser trips on.

use std::cell::RefCell;
use std::fmt;
use std::marker::PhantomData;

use poem::{FromRequest, IntoResponse, Request, RequestBody};
use poem_openapi::error::ParseRequestPayloadError;
use poem_openapi::payload::{ParsePayload, Payload};
use poem_openapi::registry::{MetaSchemaRef, Registry};
use poem_openapi::types::Type;
use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Value};

use crate::domain::text::is_forbidden_control;
use crate::http::problem::{ApiError, FieldError};

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
        let problems = RefCell::new(Vec::new());
        let seed = StrictValue {
            path: String::new(),
            problems: &problems,
        };
        let value = seed
            .deserialize(&mut serde_json::Deserializer::from_slice(&data))
            .map_err(|e| ParseRequestPayloadError {
                reason: format!("the body is not valid JSON: {e}"),
            })?;
        let problems = problems.into_inner();
        if !problems.is_empty() {
            return Err(poem::Error::from_response(
                ApiError::validation(problems).into_response(),
            ));
        }
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

/// Parses JSON like `serde_json::Value`, but notes, by field path, each key that appears
/// twice in one object (a parser would keep only the last, so two readers of one body
/// could disagree; RFC 8259 §4 leaves it open).
struct StrictValue<'a> {
    path: String,
    problems: &'a RefCell<Vec<FieldError>>,
}

impl StrictValue<'_> {
    fn note(&self, path: &str, message: &str) {
        self.problems.borrow_mut().push(FieldError {
            field: if path.is_empty() {
                "body".into()
            } else {
                path.to_string()
            },
            message: message.into(),
        });
    }

    fn child(&self, name: &str) -> Self {
        Self {
            path: if self.path.is_empty() {
                name.to_string()
            } else {
                format!("{}.{name}", self.path)
            },
            problems: self.problems,
        }
    }
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: de::Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a JSON value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E>(self, v: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(v).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(self.child(&items.len().to_string()))? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(self.child(&key))?;
            if object.contains_key(&key) {
                self.note(&self.child(&key).path, "appears more than once");
            } else {
                object.insert(key, value);
            }
        }
        Ok(Value::Object(object))
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

    /// Notes `field` if `value` holds a forbidden control character anywhere (in a string
    /// or a key): PostgreSQL cannot store NUL at all, SQLite would, so no field takes any.
    /// Only fields that are read are checked; unknown ones are ignored whatever they hold.
    fn controls_refused(&mut self, field: &str, value: &Value) -> bool {
        fn holds_control(value: &Value) -> bool {
            let bad = |s: &str| s.chars().any(is_forbidden_control);
            match value {
                Value::String(s) => bad(s),
                Value::Array(items) => items.iter().any(holds_control),
                Value::Object(map) => map.iter().any(|(k, v)| bad(k) || holds_control(v)),
                _ => false,
            }
        }
        let refused = holds_control(value);
        if refused {
            self.error(field, "must not contain control characters");
        }
        refused
    }

    /// A string that must be present.
    pub fn required_str(&mut self, field: &str) -> Option<&'a str> {
        match self.object.get(field) {
            None | Some(Value::Null) => {
                self.error(field, "is required");
                None
            }
            Some(v @ Value::String(_)) if self.controls_refused(field, v) => None,
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
            Some(v @ Value::String(_)) if self.controls_refused(field, v) => None,
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
            Some(v) if self.controls_refused(field, v) => None,
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
