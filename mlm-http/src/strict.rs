//! Reading JSON request bodies exactly as the OpenAPI description states them.
//!
//! serde's derives are more lenient than the schema in two ways this module closes:
//! - a struct also deserializes from a JSON array of its fields in order (`[null, null]` is a
//!   valid `UpdateModel`), while the schema says `type: object`: here a struct, a map or a
//!   self-describing value (an internally tagged enum) must be a JSON object;
//! - JSON Schema counts `2.0` and `2e0` as the integer 2, while serde's integer types take only
//!   `2`: here an integral number is an integer whatever its spelling (number fields take
//!   integers as well, so nothing else changes meaning).
//!
//! It also keeps what serde already checks (unknown fields, types, ranges), rejects duplicate
//! object keys, and names the place of an error (`variants[0].model_version.version: ...`).

use std::fmt;

use serde::de::value::BorrowedStrDeserializer;
use serde::de::{
    self, DeserializeOwned, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, MapAccess,
    SeqAccess, Unexpected, VariantAccess, Visitor,
};
use serde_json::{Map, Value};

/// Parses `bytes` (a JSON document whose objects have no duplicate keys) into `T`.
pub(crate) fn from_slice<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, BodyError> {
    let value = serde_json::from_slice::<UniqueKeys>(bytes)
        .map_err(|e| BodyError::Syntax(e.to_string()))?
        .0;
    T::deserialize(Strict(&value)).map_err(|e| BodyError::Data(e.to_string()))
}

/// Why a body was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum BodyError {
    /// Not JSON, or an object with a key twice.
    Syntax(String),
    /// JSON, but not what the route takes.
    Data(String),
}

/// The largest magnitude up to which every integer has an exact `f64`.
const EXACT_F64_INTEGERS: f64 = 9_007_199_254_740_992.0;

/// One step into a document.
#[derive(Debug, Clone)]
enum Step {
    Key(String),
    Index(usize),
}

/// A deserialization error and where in the body it happened.
#[derive(Debug)]
pub(crate) struct Error {
    path: Vec<Step>,
    message: String,
}

impl Error {
    fn at(mut self, step: Step) -> Self {
        self.path.push(step);
        self
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut path = String::new();
        // Steps were pushed innermost first.
        for step in self.path.iter().rev() {
            match step {
                Step::Key(k) if path.is_empty() => path.push_str(k),
                Step::Key(k) => {
                    path.push('.');
                    path.push_str(k);
                }
                Step::Index(i) => path.push_str(&format!("[{i}]")),
            }
        }
        if path.is_empty() {
            f.write_str(&self.message)
        } else {
            write!(f, "{path}: {}", self.message)
        }
    }
}

impl std::error::Error for Error {}

impl de::Error for Error {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        Self {
            path: Vec::new(),
            message: msg.to_string(),
        }
    }
}

/// A [`Value`] whose objects had no duplicate keys.
struct UniqueKeys(Value);

impl<'de> de::Deserialize<'de> for UniqueKeys {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer
            .deserialize_any(UniqueKeysVisitor)
            .map(UniqueKeys)
    }
}

struct UniqueKeysVisitor;

impl<'de> Visitor<'de> for UniqueKeysVisitor {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
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

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        serde_json::Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom("a number out of range"))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::String(v.to_string()))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(UniqueKeys(item)) = seq.next_element()? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut fields = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if fields.contains_key(&key) {
                return Err(de::Error::custom(format!("the key '{key}' is given twice")));
            }
            let UniqueKeys(value) = map.next_value()?;
            fields.insert(key, value);
        }
        Ok(Value::Object(fields))
    }
}

/// A deserializer over a parsed body that takes structs and maps only from objects and
/// integers in any spelling.
struct Strict<'a>(&'a Value);

impl<'de> Strict<'de> {
    fn objects_only<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Object(fields) => visitor.visit_map(Fields::new(fields)),
            Value::Array(_) => Err(de::Error::invalid_type(Unexpected::Seq, &visitor)),
            _ => self.deserialize_any(visitor),
        }
    }
}

impl<'de> Deserializer<'de> for Strict<'de> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(*b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    let f = n.as_f64().unwrap_or(f64::NAN);
                    if f.fract() == 0.0 && f.abs() <= EXACT_F64_INTEGERS {
                        // Integral and in range, so the casts are exact.
                        if f >= 0.0 {
                            visitor.visit_u64(f as u64)
                        } else {
                            visitor.visit_i64(f as i64)
                        }
                    } else {
                        visitor.visit_f64(f)
                    }
                }
            }
            Value::String(s) => visitor.visit_borrowed_str(s),
            // Only self-describing targets ask for "anything": in the request bodies those are
            // internally tagged enums, which are objects.
            Value::Array(_) => Err(de::Error::invalid_type(Unexpected::Seq, &visitor)),
            Value::Object(fields) => visitor.visit_map(Fields::new(fields)),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        if [crate::wire::AnyObject::NAME, crate::wire::AnyJson::NAME].contains(&name) {
            // Free-form JSON: serde_json's own reading, arrays and all.
            return visitor
                .visit_newtype_struct(self.0.clone())
                .map_err(de::Error::custom);
        }
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.0 {
            Value::Array(items) => visitor.visit_seq(Items {
                items: items.iter().enumerate(),
            }),
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_tuple<V: Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn deserialize_map<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        self.objects_only(visitor)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.objects_only(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.0 {
            Value::String(s) => visitor.visit_enum(s.as_str().into_deserializer()),
            Value::Object(fields) if fields.len() == 1 => {
                let (variant, value) = fields.iter().next().expect("one entry");
                visitor
                    .visit_enum(Variant { variant, value })
                    .map_err(|e| e.at(Step::Key(variant.clone())))
            }
            _ => self.deserialize_any(visitor),
        }
    }

    fn deserialize_ignored_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        visitor.visit_unit()
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct identifier
    }
}

/// The entries of an object, each value read strictly.
struct Fields<'a> {
    entries: serde_json::map::Iter<'a>,
    value: Option<(&'a String, &'a Value)>,
}

impl<'a> Fields<'a> {
    fn new(fields: &'a Map<String, Value>) -> Self {
        Self {
            entries: fields.iter(),
            value: None,
        }
    }
}

impl<'de> MapAccess<'de> for Fields<'de> {
    type Error = Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Error> {
        match self.entries.next() {
            None => Ok(None),
            Some((key, value)) => {
                self.value = Some((key, value));
                seed.deserialize(BorrowedStrDeserializer::new(key))
                    .map(Some)
            }
        }
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Error> {
        let (key, value) = self
            .value
            .take()
            .ok_or_else(|| <Error as de::Error>::custom("a value without its key"))?;
        seed.deserialize(Strict(value))
            .map_err(|e| e.at(Step::Key(key.clone())))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

/// The items of an array, each read strictly.
struct Items<'a> {
    items: std::iter::Enumerate<std::slice::Iter<'a, Value>>,
}

impl<'de> SeqAccess<'de> for Items<'de> {
    type Error = Error;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Error> {
        match self.items.next() {
            None => Ok(None),
            Some((i, item)) => seed
                .deserialize(Strict(item))
                .map(Some)
                .map_err(|e| e.at(Step::Index(i))),
        }
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

/// An externally tagged enum value written as `{"variant": value}`.
struct Variant<'a> {
    variant: &'a String,
    value: &'a Value,
}

impl<'de> EnumAccess<'de> for Variant<'de> {
    type Error = Error;
    type Variant = Strict<'de>;

    fn variant_seed<S: DeserializeSeed<'de>>(
        self,
        seed: S,
    ) -> Result<(S::Value, Strict<'de>), Error> {
        let variant = seed.deserialize(BorrowedStrDeserializer::new(self.variant))?;
        Ok((variant, Strict(self.value)))
    }
}

impl<'de> VariantAccess<'de> for Strict<'de> {
    type Error = Error;

    fn unit_variant(self) -> Result<(), Error> {
        de::Deserialize::deserialize(self)
    }

    fn newtype_variant_seed<S: DeserializeSeed<'de>>(self, seed: S) -> Result<S::Value, Error> {
        seed.deserialize(self)
    }

    fn tuple_variant<V: Visitor<'de>>(self, _len: usize, visitor: V) -> Result<V::Value, Error> {
        self.deserialize_seq(visitor)
    }

    fn struct_variant<V: Visitor<'de>>(
        self,
        _fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        self.objects_only(visitor)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Inner {
        version: u32,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(rename_all = "snake_case")]
    enum Kind {
        Small,
        Large,
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(tag = "type", rename_all = "snake_case", deny_unknown_fields)]
    enum Tagged {
        Plain {},
        Step { percent: u8 },
    }

    #[derive(Debug, Deserialize, PartialEq)]
    #[serde(deny_unknown_fields)]
    struct Body {
        count: u32,
        #[serde(default)]
        weight: Option<f32>,
        #[serde(default)]
        items: Vec<Inner>,
        #[serde(default)]
        tags: BTreeMap<String, String>,
        #[serde(default)]
        kind: Option<Kind>,
        #[serde(default)]
        tagged: Option<Tagged>,
    }

    fn parse(text: &str) -> Result<Body, BodyError> {
        from_slice(text.as_bytes())
    }

    fn data_error(text: &str) -> String {
        match parse(text) {
            Err(BodyError::Data(e)) => e,
            other => panic!("{text}: {other:?}"),
        }
    }

    #[test]
    fn reads_what_serde_reads() {
        let body = parse(
            r#"{"count": 3, "weight": 0.5, "items": [{"version": 1}], "tags": {"a": "b"},
                "kind": "large", "tagged": {"type": "step", "percent": 5}}"#,
        )
        .unwrap();
        assert_eq!(
            body,
            Body {
                count: 3,
                weight: Some(0.5),
                items: vec![Inner { version: 1 }],
                tags: BTreeMap::from([("a".into(), "b".into())]),
                kind: Some(Kind::Large),
                tagged: Some(Tagged::Step { percent: 5 }),
            }
        );
        let plain = parse(r#"{"count": 0, "tagged": {"type": "plain"}, "kind": null}"#).unwrap();
        assert_eq!(plain.tagged, Some(Tagged::Plain {}));
        assert_eq!(plain.kind, None);
        assert_eq!(
            parse(r#"{"count": 1, "kind": "small"}"#).unwrap().kind,
            Some(Kind::Small)
        );
    }

    #[test]
    fn integral_numbers_are_integers() {
        let body = parse(r#"{"count": 2.0, "weight": 1, "items": [{"version": 1e1}]}"#).unwrap();
        assert_eq!(body.count, 2);
        assert_eq!(body.weight, Some(1.0));
        assert_eq!(body.items, vec![Inner { version: 10 }]);
        assert!(data_error(r#"{"count": 2.5}"#).starts_with("count: invalid type"));
        assert!(data_error(r#"{"count": -1.0}"#).starts_with("count: invalid value"));
        assert!(data_error(r#"{"count": 1e300}"#).starts_with("count: invalid type"));
    }

    #[test]
    fn structs_and_maps_are_objects() {
        for text in [
            r#"[1]"#,
            r#"{"count": 1, "items": [[1]]}"#,
            r#"{"count": 1, "tags": [["a", "b"]]}"#,
            r#"{"count": 1, "tagged": ["step", 5]}"#,
            r#""count""#,
            r#"null"#,
        ] {
            assert!(matches!(parse(text), Err(BodyError::Data(_))), "{text}");
        }
        assert_eq!(
            data_error(r#"{"count": 1, "items": [{"version": 1}, [2]]}"#),
            "items[1]: invalid type: sequence, expected struct Inner"
        );
    }

    #[test]
    fn strictness_and_paths() {
        assert_eq!(
            data_error(r#"{"count": 1, "items": [{"version": 1, "x": 2}]}"#),
            "items[0]: unknown field `x`, expected `version`"
        );
        assert_eq!(
            data_error(r#"{"count": 1, "items": [{"version": "1"}]}"#),
            "items[0].version: invalid type: string \"1\", expected u32"
        );
        assert_eq!(data_error(r#"{}"#), "missing field `count`");
        assert!(data_error(r#"{"count": 1, "tagged": {"type": "plain", "x": 1}}"#).contains("x"));
        assert!(data_error(r#"{"count": 1, "kind": "huge"}"#).starts_with("kind: unknown variant"));
        assert!(matches!(
            parse(r#"{"count": 1, "count": 2}"#),
            Err(BodyError::Syntax(e)) if e.contains("'count' is given twice")
        ));
        assert!(matches!(parse(r#"{"count": 1"#), Err(BodyError::Syntax(_))));
    }

    #[test]
    fn free_form_fields_read_json_as_it_is() {
        use crate::wire::{AnyJson, AnyObject};

        #[derive(Debug, Deserialize)]
        #[serde(deny_unknown_fields)]
        struct Free {
            any: AnyJson,
            object: Option<AnyObject>,
        }
        let free: Free =
            from_slice(br#"{"any": [1, [2], {"a": []}], "object": {"b": [true]}}"#).unwrap();
        assert_eq!(free.any.0, serde_json::json!([1, [2], {"a": []}]));
        assert_eq!(
            free.object.map(|o| Value::Object(o.0)),
            Some(serde_json::json!({"b": [true]}))
        );
        // Free-form is only inside the marked fields: the struct itself is still an object.
        let refused = from_slice::<Free>(br#"[[1], null]"#);
        assert!(matches!(refused, Err(BodyError::Data(_))), "{refused:?}");
        let not_an_object = from_slice::<Free>(br#"{"any": 1, "object": [1]}"#);
        assert!(
            matches!(&not_an_object, Err(BodyError::Data(e)) if e.starts_with("object:")),
            "{not_an_object:?}"
        );
    }
}
