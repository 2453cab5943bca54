//! The schemas utoipa cannot derive for the core types (feature `openapi`): names with their
//! rule, and [`TrafficShift`] as named, discriminated variants. Everything else derives
//! `utoipa::ToSchema` next to its type, so the REST API's response schema is the core's.

use std::borrow::Cow;

use utoipa::openapi::RefOr;
use utoipa::openapi::schema::{
    AdditionalProperties, Discriminator, KnownFormat, ObjectBuilder, OneOfBuilder, Ref, Schema,
    SchemaFormat, Type,
};
use utoipa::{PartialSchema, ToSchema};

use crate::endpoint::TrafficShift;
use crate::names::{AlarmName, BaselineName, EndpointName, MAX_NAME_LEN, ModelName, VariantName};

/// SageMaker's naming rule as a JSON Schema pattern (see [`crate::backend::validate_name`]).
pub const NAME_PATTERN: &str = "^[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}$";

fn name_schema(description: &str, example: &str) -> RefOr<Schema> {
    ObjectBuilder::new()
        .schema_type(Type::String)
        .description(Some(description))
        .pattern(Some(NAME_PATTERN))
        .min_length(Some(1))
        .max_length(Some(MAX_NAME_LEN))
        .examples([example])
        .into()
}

macro_rules! name_schema {
    ($ty:ident, $what:literal, $example:literal) => {
        impl PartialSchema for $ty {
            fn schema() -> RefOr<Schema> {
                name_schema(
                    concat!(
                        "The name of ",
                        $what,
                        ": 1-63 ASCII letters, digits and hyphens, starting and ending with a \
                         letter or digit."
                    ),
                    $example,
                )
            }
        }

        impl ToSchema for $ty {
            fn name() -> Cow<'static, str> {
                Cow::Borrowed(stringify!($ty))
            }
        }
    };
}

name_schema!(ModelName, "a registered model", "news-classifier");
name_schema!(EndpointName, "an endpoint", "news");
name_schema!(
    BaselineName,
    "a drift baseline, unique within its endpoint",
    "launch"
);
name_schema!(
    VariantName,
    "a variant, unique within its endpoint",
    "primary"
);
name_schema!(
    AlarmName,
    "an alarm, unique within its endpoint",
    "errors-5xx"
);

/// One property of a [`TrafficShift`] variant: name, description, minimum, maximum, required.
type ShiftField = (&'static str, &'static str, u32, u32, bool);

/// One variant of [`TrafficShift`]: schema name, `type` tag, description, and the other
/// properties.
type ShiftVariant = (
    &'static str,
    &'static str,
    &'static str,
    &'static [ShiftField],
);

const TRAFFIC_SHIFTS: [ShiftVariant; 4] = [
    (
        "AllAtOnceShift",
        "all_at_once",
        "Shift everything at once.",
        &[],
    ),
    (
        "CanaryShift",
        "canary",
        "Shift `percent` first, watch for `bake_seconds`, then the rest.",
        &[
            (
                "percent",
                "Share of traffic in the canary step, 1-50.",
                1,
                50,
                true,
            ),
            (
                "bake_seconds",
                "How long the canary is watched, 0-3600.",
                0,
                3600,
                true,
            ),
        ],
    ),
    (
        "LinearShift",
        "linear",
        "Shift `step_percent` every `interval_seconds`.",
        &[
            ("step_percent", "Share per step, 10-50.", 10, 50, true),
            (
                "interval_seconds",
                "Wait between steps, 0-3600.",
                0,
                3600,
                true,
            ),
        ],
    ),
    (
        "RollingShift",
        "rolling",
        "Replace the instances in place, `batch_percent` of them at a time (single-variant, \
         instance-backed endpoints only).",
        &[
            (
                "batch_percent",
                "Share of the instances replaced per batch, 5-50.",
                5,
                50,
                true,
            ),
            (
                "interval_seconds",
                "Wait after each batch, 0-3600.",
                0,
                3600,
                true,
            ),
            (
                "rollback_batch_percent",
                "Share of the instances returned per batch on rollback, 5-100; omitted: all \
                 at once.",
                5,
                100,
                false,
            ),
        ],
    ),
];

/// One variant's schema: an object as strict as the deserializer (no unknown fields).
fn traffic_shift_variant(v: &ShiftVariant) -> Schema {
    let (name, tag, description, fields) = *v;
    let mut object = ObjectBuilder::new()
        .schema_type(Type::Object)
        .title(Some(name))
        .description(Some(description))
        .property(
            "type",
            ObjectBuilder::new()
                .schema_type(Type::String)
                .description(Some("The kind of shift."))
                .enum_values(Some([tag])),
        )
        .required("type")
        .additional_properties(Some(AdditionalProperties::FreeForm(false)));
    for (field, doc, min, max, required) in fields {
        let integer = ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .description(Some(*doc))
            .minimum(Some(*min))
            .maximum(Some(*max));
        object = object.property(*field, integer);
        if *required {
            object = object.required(*field);
        }
    }
    object.build().into()
}

/// A `oneOf` over the named variants with a `discriminator` on `type`, so generated clients
/// get one class per variant instead of `TrafficShiftType0`.
impl PartialSchema for TrafficShift {
    fn schema() -> RefOr<Schema> {
        let mut discriminator = Discriminator::new("type");
        let mut one_of = OneOfBuilder::new()
            .description(Some("How traffic moves to a new fleet during an update."));
        for (name, tag, _, _) in TRAFFIC_SHIFTS {
            let location = format!("#/components/schemas/{name}");
            discriminator.mapping.insert(tag.into(), location.clone());
            one_of = one_of.item(Ref::new(location));
        }
        one_of.discriminator(Some(discriminator)).into()
    }
}

impl ToSchema for TrafficShift {
    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        for variant in &TRAFFIC_SHIFTS {
            schemas.push((variant.0.into(), traffic_shift_variant(variant).into()));
        }
    }
}

/// [`crate::DeploymentPhase`] is written as its flat wire form.
impl PartialSchema for crate::DeploymentPhase {
    fn schema() -> RefOr<Schema> {
        crate::deployment::PhaseFields::schema()
    }
}

impl ToSchema for crate::DeploymentPhase {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("DeploymentPhase")
    }

    fn schemas(schemas: &mut Vec<(String, RefOr<Schema>)>) {
        schemas.push(("PhaseName".into(), crate::PhaseName::schema()));
        <crate::deployment::PhaseFields as ToSchema>::schemas(schemas);
    }
}
