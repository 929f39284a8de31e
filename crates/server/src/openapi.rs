//! The OpenAPI 3.1 document of the internal API, generated from the handlers' annotations.
//! It is served at `/api/openapi.json` and committed as `docs/openapi.json`; a test fails when
//! the two differ.

use crate::internal;
use axum::Json;
use renkei_net::ProblemKind;
use serde_json::json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

#[derive(OpenApi)]
#[openapi(
    info(title = "renkei internal API", description = "Client-system API of the renkei intermediate server platform (中間サーバ). Errors are application/problem+json (RFC 9457)."),
    paths(internal::register_person, internal::lookup_person, internal::upsert_copy, internal::file_query, internal::get_query, internal::list_queries, internal::list_records, internal::import_file,
        crate::sessions::sign_in, crate::sessions::who_am_i, crate::sessions::sign_out, crate::sessions::begin_enrolment, crate::sessions::finish_enrolment, crate::sessions::change_password,
        crate::audit_api::entries, crate::audit_api::checkpoints,
        crate::people_api::create, crate::people_api::list, crate::people_api::revoke_sessions, crate::people_api::assign_duties,
        crate::approvals_api::list_policies, crate::approvals_api::set_policy, crate::approvals_api::remove_policy, crate::approvals_api::pending, crate::approvals_api::decide,
        crate::limits_api::read, crate::limits_api::set, crate::limits_api::raise,
        crate::reviews_api::set_mark, crate::reviews_api::list_marks, crate::reviews_api::load_marks, crate::reviews_api::list_reviews, crate::reviews_api::review,
        crate::in_house::read, crate::in_house::set, crate::registry_api::unify, crate::api_keys_api::list, crate::api_keys_api::create, crate::api_keys_api::revoke, crate::gaiji_api::report, crate::gaiji_api::load),
    components(schemas(internal::RegisterPerson, internal::PersonRegistered, internal::LookupPerson, internal::PersonFound, internal::UpsertCopy, internal::CopyStored, internal::FileQuery, internal::QueryResource, internal::QueryList, internal::RecordList, internal::RecordResource, internal::ImportReport, internal::ImportKind, crate::import::ImportSummary, crate::import::BadLine,
        crate::sessions::SignIn, crate::sessions::SessionOpened, crate::sessions::WhoAmI, crate::sessions::EnrolmentBegun, crate::sessions::ConfirmEnrolment, crate::sessions::ChangePassword,
        crate::audit_api::AuditEntry, crate::audit_api::AuditPage, crate::audit_api::AuditCheckpoints,
        crate::people_api::NewAccount, crate::people_api::AccountView, crate::people_api::AccountList, crate::people_api::SessionsRevoked, crate::people_api::Duties,
        crate::approvals_api::PolicyView, crate::approvals_api::PolicyList, crate::approvals_api::SetPolicy, crate::approvals_api::DecisionBody,
        crate::limits_api::SessionLimitView, crate::limits_api::SetLimit, crate::limits_api::RaiseLimit,
        crate::reviews_api::SetMark, crate::reviews_api::MarkView, crate::reviews_api::MarkList, crate::reviews_api::MarksLoaded, crate::reviews_api::HeldQueryView, crate::reviews_api::HeldQueryList, crate::reviews_api::ReviewBody, crate::in_house::InHouseUses, crate::registry::UnifyReport, crate::registry::RegistryConflict, crate::registry::ConflictKind, crate::api_keys_api::ApiKeyView, crate::api_keys_api::ApiKeyList, crate::api_keys_api::NewApiKey, crate::api_keys_api::ApiKeyCreated, crate::gaiji_api::GaijiCount, crate::gaiji_api::GaijiReportView)),
    modifiers(&ApiKeyAuth)
)]
pub struct ApiDoc;

struct ApiKeyAuth;

impl Modify for ApiKeyAuth {
    fn modify(&self, doc: &mut utoipa::openapi::OpenApi) {
        let components = doc.components.get_or_insert_with(Default::default);
        components.add_security_scheme("api_key", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
        components.add_security_scheme("session", SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()));
    }
}

/// The document: what utoipa makes of the handlers, with every problem answer given the
/// `Problem` schema, whose `type` lists every [`ProblemKind`] (one list, in `renkei_net`).
fn openapi() -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{RefOr, schema::Ref, schema::Schema};
    let mut doc = ApiDoc::openapi();
    let kinds: Vec<serde_json::Value> = ProblemKind::ALL.iter().map(|k| k.uri().into()).collect();
    let listed: String = ProblemKind::ALL
        .iter()
        .map(|k| {
            let about = if k.about().is_empty() { k.title() } else { k.about() };
            format!("\n- `{}` ({}): {about}", k.uri(), k.status().as_u16())
        })
        .collect();
    let problem = json!({
        "type": "object",
        "description": "An RFC 9457 problem document. Match on `type`, never on `title` or `detail`; `detail` names the field or rule, never a value sent.",
        "required": ["type", "title", "status"],
        "properties": {
            "type": {"type": "string", "enum": kinds, "description": format!("What went wrong:{listed}")},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
    });
    // The schema is written as JSON (what it says is plain there) and read into utoipa's types.
    match serde_json::from_value::<Schema>(problem) {
        Ok(schema) => {
            doc.components.get_or_insert_with(Default::default).schemas.insert("Problem".into(), RefOr::T(schema));
        }
        Err(e) => tracing::error!(error = %e, "the Problem schema does not parse; the document lacks it"),
    }
    // Any operation may fail on the server's side; one entry says how, for every operation.
    let server_side = utoipa::openapi::ResponseBuilder::new()
        .description("`internal` (500, a bug; see the server log), `unavailable` (503: the database cannot be reached; nothing was applied, retry), `storage-full` (507: nothing was applied)")
        .content(renkei_net::problem::CONTENT_TYPE, utoipa::openapi::content::Content::new(None::<RefOr<Schema>>))
        .build();
    for item in doc.paths.paths.values_mut() {
        let operations = [&mut item.get, &mut item.post, &mut item.put, &mut item.patch, &mut item.delete];
        for op in operations.into_iter().flatten() {
            op.responses.responses.entry("5XX".into()).or_insert_with(|| RefOr::T(server_side.clone()));
            for response in op.responses.responses.values_mut() {
                if let RefOr::T(r) = response
                    && let Some(content) = r.content.get_mut(renkei_net::problem::CONTENT_TYPE)
                {
                    content.schema = Some(RefOr::Ref(Ref::from_schema_name("Problem")));
                }
            }
        }
    }
    doc
}

/// The document as pretty JSON, exactly as committed in `docs/openapi.json`.
pub fn document() -> String {
    let mut s = openapi().to_pretty_json().unwrap_or_default();
    s.push('\n');
    s
}

pub async fn serve() -> Json<serde_json::Value> {
    Json(serde_json::to_value(openapi()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_document_lists_every_problem_kind_and_every_problem_answer_has_its_schema() {
        let doc = super::document();
        for k in renkei_net::ProblemKind::ALL {
            assert!(doc.contains(&format!("\"{}\"", k.uri())), "{k:?} is listed");
        }
        let v: serde_json::Value = serde_json::from_str(&doc).unwrap();
        let mut answers = 0;
        for op in v["paths"].as_object().unwrap().values().flat_map(|p| p.as_object().unwrap().values()) {
            for r in op["responses"].as_object().unwrap().values() {
                if let Some(c) = r["content"].get("application/problem+json") {
                    answers += 1;
                    assert_eq!(c["schema"]["$ref"], "#/components/schemas/Problem");
                }
            }
        }
        assert!(answers > 10, "{answers}");
    }
}
