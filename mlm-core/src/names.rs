//! Validated resource names.
//!
//! Names are validated once, when they are made, with SageMaker's rule
//! `^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$`: 1–63 characters, ASCII letters, digits and hyphens,
//! starting and ending with a letter or digit. Every backend accepts the same names, so a model
//! built on the local backend can move to AWS unchanged.

use std::fmt;

use crate::error::{Error, Result};

/// The longest name SageMaker accepts.
pub const MAX_NAME_LEN: usize = 63;

/// Checks `value` against SageMaker's naming rule, naming `what` in the error.
pub fn validate_name(what: &str, value: &str) -> Result<()> {
    let fail = |why: &str| {
        Err(Error::invalid(format!(
            "{what} '{value}' is not a valid name: {why} (use 1-{MAX_NAME_LEN} ASCII letters, \
             digits and hyphens, starting and ending with a letter or digit)"
        )))
    };
    if value.is_empty() {
        return fail("it is empty");
    }
    if value.len() > MAX_NAME_LEN {
        return fail(&format!("it is {} characters long", value.len()));
    }
    if let Some(bad) = value
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || *c == '-'))
    {
        return fail(&format!("'{bad}' is not allowed"));
    }
    if value.starts_with('-') || value.ends_with('-') {
        return fail("it starts or ends with a hyphen");
    }
    Ok(())
}

macro_rules! name_type {
    ($(#[$doc:meta])* $ty:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
        #[serde(into = "String")]
        pub struct $ty(String);

        impl<'de> serde::Deserialize<'de> for $ty {
            fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
                let value = <String as serde::Deserialize>::deserialize(d)?;
                // The bare message: whoever reports the parse error says what kind it is.
                Self::new(value).map_err(|e| serde::de::Error::custom(e.message()))
            }
        }

        impl $ty {
            /// Validates and wraps `value`.
            pub fn new(value: impl Into<String>) -> Result<Self> {
                let value = value.into();
                validate_name($what, &value)?;
                Ok(Self(value))
            }

            /// The name as a string slice.
            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }

        impl AsRef<str> for $ty {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $ty {
            type Error = Error;
            fn try_from(value: String) -> Result<Self> {
                Self::new(value)
            }
        }

        impl TryFrom<&str> for $ty {
            type Error = Error;
            fn try_from(value: &str) -> Result<Self> {
                Self::new(value)
            }
        }

        impl std::str::FromStr for $ty {
            type Err = Error;
            fn from_str(value: &str) -> Result<Self> {
                Self::new(value)
            }
        }

        impl From<$ty> for String {
            fn from(name: $ty) -> String {
                name.0
            }
        }
    };
}

name_type!(
    /// The name of a registered model.
    ModelName,
    "model name"
);
name_type!(
    /// The name of an endpoint.
    EndpointName,
    "endpoint name"
);
name_type!(
    /// The name of a drift baseline, unique per endpoint.
    BaselineName,
    "baseline name"
);
name_type!(
    /// The name of a variant within an endpoint.
    VariantName,
    "variant name"
);
name_type!(
    /// The name of an alarm, unique within its endpoint.
    AlarmName,
    "alarm name"
);
name_type!(
    /// The name of a promotion pipeline.
    PipelineName,
    "pipeline name"
);
name_type!(
    /// The name of a stage of a promotion pipeline, unique within it.
    StageName,
    "stage name"
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_sagemaker_names() {
        for ok in ["a", "A1", "my-model", "m--2", &"x".repeat(63)] {
            assert!(ModelName::new(ok).is_ok(), "{ok}");
        }
    }

    #[test]
    fn rejects_bad_names_with_reason() {
        let cases = [
            ("", "empty"),
            ("-a", "hyphen"),
            ("a-", "hyphen"),
            ("a_b", "'_' is not allowed"),
            ("a b", "' ' is not allowed"),
            ("é", "'é' is not allowed"),
            ("../etc", "'.' is not allowed"),
        ];
        for (bad, why) in cases {
            let err = EndpointName::new(bad).unwrap_err().to_string();
            assert!(err.contains(why), "{bad}: {err}");
            assert!(err.contains("endpoint name"), "{err}");
        }
        let err = ModelName::new("x".repeat(64)).unwrap_err().to_string();
        assert!(err.contains("64 characters"), "{err}");
    }

    #[test]
    fn serde_validates() {
        let ok: ModelName = serde_json::from_str("\"churn\"").unwrap();
        assert_eq!(ok.as_str(), "churn");
        assert_eq!(serde_json::to_string(&ok).unwrap(), "\"churn\"");
        let err = serde_json::from_str::<ModelName>("\"bad name\"").unwrap_err();
        assert!(err.to_string().contains("not a valid name"), "{err}");
    }
}
