//! The OpenAPI 3.1 document, generated from the code: paths, parameters and responses from the
//! handlers' `utoipa` annotations; the body schemas from the answer types themselves (their
//! `schemars` JSON Schemas, 2020-12, which OpenAPI 3.1 uses as is), so the document describes
//! exactly what the service serializes. Checked into `docs/openapi.json` (a test fails when the
//! two differ).

use std::borrow::Cow;

use dossier_query::{Answer, Beliefs, History, Why};
use schemars::JsonSchema;
use serde_json::Value;
use utoipa::OpenApi;
use utoipa::openapi::{RefOr, Schema};

use crate::routes::{
    CheckpointAnswer, ConsistencyProof, Health, InclusionProof, RecordPage, SingleRecord,
    ViewsStatus,
};

/// Declares a marker type standing, in the `utoipa` annotations, for the schema of `$ty`
/// (named as `schemars` names it), which [`openapi_json`] then fills in.
macro_rules! doc_schema {
    ($($marker:ident => $ty:ty),* $(,)?) => {
        $(
            pub(crate) struct $marker;
            impl utoipa::PartialSchema for $marker {
                fn schema() -> RefOr<Schema> {
                    RefOr::Ref(utoipa::openapi::Ref::from_schema_name(<$ty as JsonSchema>::schema_name()))
                }
            }
            impl utoipa::ToSchema for $marker {
                fn name() -> Cow<'static, str> {
                    <$ty as JsonSchema>::schema_name()
                }
            }
        )*
        /// Adds the schema of every documented type (and of everything they refer to).
        fn add_schemas(generator: &mut schemars::SchemaGenerator) {
            $( generator.subschema_for::<$ty>(); )*
        }
    };
}

doc_schema! {
    BeliefsAnswerDoc => Answer<Beliefs>,
    WhyAnswerDoc => Answer<Why>,
    LineAnswerDoc => Answer<dossier_projector::Marked<dossier_beliefs::BeliefLine>>,
    HistoryAnswerDoc => Answer<History>,
    RecordPageAnswerDoc => Answer<RecordPage>,
    SingleRecordAnswerDoc => Answer<SingleRecord>,
    CheckpointAnswerDoc => Answer<CheckpointAnswer>,
    InclusionAnswerDoc => Answer<InclusionProof>,
    ConsistencyAnswerDoc => Answer<ConsistencyProof>,
    StatusAnswerDoc => Answer<ViewsStatus>,
    PublishedDoc => dossier_app::BundleResult,
    BundleDoc => dossier_model::Bundle,
    HealthDoc => Health,
    ProblemDoc => crate::problem::Problem,
    BeliefEventDoc => crate::sse::BeliefEvent,
    WatchListDoc => crate::watches::WatchList,
    NewWatchDoc => crate::watches::NewWatch,
    CreatedWatchDoc => crate::watches::CreatedWatch,
    DeadLetterListDoc => crate::watches::DeadLetterList,
    ReplayedDoc => crate::watches::Replayed,
    NotificationDoc => dossier_notify::Notification,
    NewRedactionDoc => crate::redaction::NewRedaction,
    RedactedDoc => dossier_redact::Redacted,
    ExchangeDocumentDoc => crate::routes::ExchangeDocument,
}

/// Adds the bearer scheme.
struct Security;

impl utoipa::Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "dossier",
        description = "The HTTP service of a dossier ledger: beliefs with provenance, history, records, proofs and live streams, each answer computed for the caller's clearance. Errors are RFC 9457 problems (`application/problem+json`); their `type`s are listed in docs/HTTP.md.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    paths(
        crate::routes::beliefs,
        crate::routes::line,
        crate::routes::question,
        crate::routes::history,
        crate::routes::provenance,
        crate::exchange::report,
        crate::exchange::ledger_stix,
        crate::routes::records,
        crate::routes::record,
        crate::routes::record_raw,
        crate::routes::text,
        crate::routes::checkpoint,
        crate::routes::inclusion,
        crate::routes::consistency,
        crate::routes::tlog_checkpoint,
        crate::routes::status,
        crate::routes::bundles,
        crate::redaction::redact,
        crate::sse::records,
        crate::sse::beliefs,
        crate::watches::list,
        crate::watches::create,
        crate::watches::remove,
        crate::watches::dead_letters,
        crate::watches::replay,
        crate::routes::healthz,
        crate::routes::readyz,
        crate::routes::metrics_text,
        crate::routes::openapi,
    ),
    components(schemas(BeliefEventDoc, NotificationDoc)),
    modifiers(&Security),
)]
struct ApiDoc;

/// The OpenAPI 3.1 document of the service, as pretty-printed JSON with a final newline (the
/// form checked into `docs/openapi.json`).
#[must_use]
pub fn openapi_json() -> String {
    let doc = ApiDoc::openapi();
    let mut value = serde_json::to_value(&doc).unwrap_or(Value::Null);
    let mut generator = schemars::generate::SchemaSettings::draft2020_12()
        .with(|s| {
            s.definitions_path = "/components/schemas".into();
            s.meta_schema = None;
        })
        .into_generator();
    add_schemas(&mut generator);
    let definitions = generator.take_definitions(true);
    if let Some(schemas) = value
        .pointer_mut("/components")
        .and_then(Value::as_object_mut)
        .map(|c| {
            c.entry("schemas")
                .or_insert_with(|| Value::Object(Default::default()))
        })
        .and_then(Value::as_object_mut)
    {
        // The markers' own entries are references to themselves: replaced here.
        for (name, schema) in definitions {
            schemas.insert(name, schema);
        }
        schemas.sort_keys();
    }
    let mut text = serde_json::to_string_pretty(&value).unwrap_or_default();
    text.push('\n');
    text
}
