//! The OpenAPI 3.1 document of the internal API, generated from the handlers' annotations.
//! It is served at `/api/openapi.json` and committed as `docs/openapi.json`; a test fails when
//! the two differ.

use crate::internal;
use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "renkei internal API", description = "Client-system API of the renkei intermediate server platform (中間サーバ). Errors are application/problem+json (RFC 9457)."),
    paths(internal::register_person, internal::upsert_copy, internal::file_query, internal::get_query, internal::list_queries, internal::list_records, internal::import_file),
    components(schemas(internal::RegisterPerson, internal::PersonRegistered, internal::UpsertCopy, internal::CopyStored, internal::FileQuery, internal::QueryResource, internal::QueryList, internal::RecordList, internal::RecordResource, internal::ImportReport, crate::import::ImportSummary, crate::import::BadLine)),
    modifiers(&ApiKeyAuth)
)]
pub struct ApiDoc;

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The document as pretty JSON, exactly as committed in `docs/openapi.json`.
pub fn document() -> String {
    let mut s = ApiDoc::openapi().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}

pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::to_value(ApiDoc::openapi()).unwrap_or_default())
}
