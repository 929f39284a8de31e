//! The internal API for client systems (既存システム): register persons, upsert provision
//! copies, file and read queries, list linkage records. Every call carries an API key scoped to
//! one tenant and one org; everything it reaches is that org's. Another tenant's or org's
//! resource answers 404, so existence does not leak.

use crate::caller::{Act, Caller, gone};
use crate::filing::QueryFiling;
use crate::import::{BadLine, ImportError, ImportOptions, ImportSummary, Observer};
use crate::{Platform, hub_problem};
use axum::extract::{DefaultBodyLimit, Path, Query, State};
use axum::http::StatusCode;
use axum::routing::{get, post};
use axum::{Json, Router};
use renkei_domain::Date;
use renkei_domain::bulk::{Encoding, FileKind};
use renkei_domain::policy::Action;
use renkei_domain::{AddresseeNo, DutyCode, ItemCode, OrgId, QueryState, RecordOutcome, RequestId, SecretText, Side};
use renkei_net::{ApiJson, Problem, ProblemKind};
use renkei_store::tenant::{QueryFilter, QueryView, RecordFilter, Registration};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::sync::Arc;
use utoipa::ToSchema;

/// Largest accepted request body.
pub const BODY_LIMIT: usize = 256 << 10;

pub fn router(p: Arc<Platform>) -> Router {
    Router::new()
        .route("/api/v1/persons", post(register_person))
        .route("/api/v1/persons/lookup", post(lookup_person))
        .route("/api/v1/copies", post(upsert_copy))
        .route("/api/v1/queries", post(file_query).get(list_queries))
        .route("/api/v1/queries/{id}", get(get_query))
        .route("/api/v1/records", get(list_records))
        .route("/api/v1/imports/{kind}", post(import_file))
        .route("/api/openapi.json", get(crate::openapi::serve))
        .merge(crate::sessions::routes())
        .merge(crate::audit_api::routes())
        .merge(crate::people_api::routes())
        .merge(crate::approvals_api::routes())
        .merge(crate::limits_api::routes())
        .merge(crate::reviews_api::routes())
        .merge(crate::in_house::routes())
        .merge(crate::gaiji_api::routes())
        .merge(crate::registry_api::routes())
        .merge(crate::api_keys_api::routes())
        .merge(crate::web::routes())
        .fallback(Problem::fallback_not_found)
        .method_not_allowed_fallback(Problem::fallback_method)
        .layer(DefaultBodyLimit::max(BODY_LIMIT))
        .with_state(p)
}

/// 符号取得: register a person of the tenant with the Individual Number, once.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegisterPerson {
    /// 団体内統合宛名番号.
    #[schema(value_type = String, example = "A000001")]
    pub addressee_no: AddresseeNo,
    /// 個人番号: 12 digits (full-width digits and surrounding spaces are accepted). Used to
    /// obtain the org's code from the hub, then forgotten.
    #[schema(value_type = String, example = "123456789018")]
    pub individual_number: SecretText,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonRegistered {
    #[schema(value_type = String)]
    pub addressee_no: AddresseeNo,
    /// `created` or `already_registered`.
    pub status: String,
}

#[utoipa::path(post, path = "/api/v1/persons", request_body = RegisterPerson, tag = "persons",
    responses((status = 201, body = PersonRegistered, description = "registered"), (status = 200, body = PersonRegistered, description = "already registered"),
        (status = 400, description = "invalid Individual Number or body", content_type = "application/problem+json"),
        (status = 409, description = "the addressee number is registered with another person's code, or the code with another addressee number", content_type = "application/problem+json"), (status = 401, description = "missing or unknown API key or session", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json"), (status = 502, description = "hub unreachable", content_type = "application/problem+json"),
        (status = 403, description = "the caller's role may not do this (`role-denied`)", content_type = "application/problem+json")),
    security(("api_key" = []), ("session" = [])))]
pub async fn register_person(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    ApiJson(body): ApiJson<RegisterPerson>,
) -> Result<(StatusCode, Json<PersonRegistered>), Problem> {
    let act = caller.act(Action::RegisterPerson)?;
    let (http, status) = match crate::persons::register_as(&p, &act, &body.addressee_no, body.individual_number.as_str()).await? {
        Registration::Created => (StatusCode::CREATED, "created"),
        Registration::AlreadyRegistered => (StatusCode::OK, "already_registered"),
    };
    Ok((http, Json(PersonRegistered { addressee_no: body.addressee_no, status: status.into() })))
}

/// 検索: whether a person is registered in the caller's org, by 宛名番号 (in the body, never in a
/// URL).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LookupPerson {
    #[schema(value_type = String, example = "A000001")]
    pub addressee_no: AddresseeNo,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct PersonFound {
    /// Whether the caller's org holds a code for the person (never the code itself).
    pub registered: bool,
}

#[utoipa::path(post, path = "/api/v1/persons/lookup", request_body = LookupPerson, tag = "persons",
    responses((status = 200, body = PersonFound), (status = 400, description = "invalid body", content_type = "application/problem+json"),
        (status = 401, description = "missing or unknown API key or session", content_type = "application/problem+json"),
        (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json"),
        (status = 403, description = "the caller's role may not do this (`role-denied`)", content_type = "application/problem+json")),
    security(("api_key" = []), ("session" = [])))]
pub async fn lookup_person(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    ApiJson(body): ApiJson<LookupPerson>,
) -> Result<Json<PersonFound>, Problem> {
    let act = caller.act(Action::ReadPerson)?;
    Ok(Json(PersonFound { registered: crate::persons::is_registered(&p, &act, &body.addressee_no).await? }))
}

/// 副本: one version of one item of one person, valid from a date.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct UpsertCopy {
    #[schema(value_type = String, example = "A000001")]
    pub addressee_no: AddresseeNo,
    /// Item code of 別表第二 (e.g. `TAX`).
    #[schema(value_type = String, example = "TAX")]
    pub item: ItemCode,
    #[schema(value_type = String, format = Date, example = "2026-04-01")]
    pub valid_from: Date,
    /// The item's fields, as the client system defines them.
    #[schema(value_type = Object)]
    pub fields: Map<String, Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct CopyStored {
    #[schema(value_type = String)]
    pub addressee_no: AddresseeNo,
    #[schema(value_type = String)]
    pub item: ItemCode,
    #[schema(value_type = String, format = Date)]
    pub valid_from: Date,
}

#[utoipa::path(post, path = "/api/v1/copies", request_body = UpsertCopy, tag = "copies",
    responses((status = 200, body = CopyStored), (status = 400, description = "invalid body, unknown item, or fields beyond the limits every answer must fit in (`invalid-fields`: 16 KiB as JSON, 16 levels)", content_type = "application/problem+json"),
        (status = 401, description = "missing or unknown API key or session", content_type = "application/problem+json"), (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json"),
        (status = 403, description = "the caller's role may not do this (`role-denied`)", content_type = "application/problem+json")),
    security(("api_key" = []), ("session" = [])))]
pub async fn upsert_copy(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    ApiJson(body): ApiJson<UpsertCopy>,
) -> Result<Json<CopyStored>, Problem> {
    let act = caller.act(Action::WriteCopies)?;
    p.admit_addressee(&act, &body.addressee_no)?;
    let store = act.store(&p).await?;
    p.upsert_copy(&store, act.org()?, &body.addressee_no, &body.item, body.valid_from, &body.fields).await?;
    Ok(Json(CopyStored { addressee_no: body.addressee_no, item: body.item, valid_from: body.valid_from }))
}

/// 情報照会: ask another org for items about a person, for a duty.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FileQuery {
    #[schema(value_type = String, example = "D015")]
    pub duty: DutyCode,
    #[schema(value_type = String, example = "kou-mayor")]
    pub provider_org: OrgId,
    #[schema(value_type = Vec<String>, example = json!(["TAX"]))]
    pub items: Vec<ItemCode>,
    #[schema(value_type = String, example = "A000001")]
    pub addressee_no: AddresseeNo,
    /// The date on which the provided data must be valid.
    #[schema(value_type = String, format = Date, example = "2026-06-01")]
    pub reference_date: Date,
    /// Filing again with the same key returns the first query instead of a new one.
    #[schema(example = "tax-2026-A000001")]
    pub idempotency_key: String,
}

/// A query as its requester sees it.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryResource {
    pub id: String,
    pub request_id: String,
    /// created, pending_approval, queued, in_flight, answered or failed.
    #[schema(value_type = String)]
    pub state: QueryState,
    /// 作成, 承認待ち, 送信待ち, 照会中, 回答済 or エラー.
    pub state_label: String,
    pub duty: String,
    pub provider_org: String,
    pub items: Vec<String>,
    pub addressee_no: String,
    #[schema(value_type = String, format = Date)]
    pub reference_date: Date,
    /// Why the query ended in エラー, or the last delivery problem.
    pub error: Option<String>,
    /// found, not_registered or no_copy, once answered.
    pub outcome: Option<String>,
    /// The provider's answer (per-item status and fields), once answered; null before.
    #[schema(value_type = Option<Object>)]
    pub answer: Option<Value>,
    pub attempts: i64,
    /// Milliseconds since the Unix epoch.
    pub created_at: i64,
    pub updated_at: i64,
    /// When a query not yet final ends in エラー (ms since the Unix epoch): the approval
    /// window's end while 承認待ち, the answer's deadline after.
    pub deadline_at: i64,
    /// Who filed it: an account's name, or `api-key:<key id>` for a client system.
    pub filed_by: String,
    /// The approver who decided it, where its duty needs approval (電子決裁).
    pub decided_by: Option<String>,
    /// Answered inside the platform by another org of the tenant (庁内連携), without the hub.
    pub in_house: bool,
}

impl From<QueryView> for QueryResource {
    fn from(v: QueryView) -> Self {
        Self {
            id: v.id,
            request_id: v.request_id.to_string(),
            state_label: v.state.label_ja().to_owned(),
            state: v.state,
            duty: v.duty.to_string(),
            provider_org: v.provider.to_string(),
            items: v.items.iter().map(|i| i.to_string()).collect(),
            addressee_no: v.addressee.to_string(),
            reference_date: v.reference_date,
            error: v.error,
            outcome: v.outcome.map(|o| o.code().to_owned()),
            answer: v.answer,
            attempts: v.attempts,
            created_at: v.created_at,
            updated_at: v.updated_at,
            deadline_at: v.deadline_at,
            filed_by: v.filed_by,
            decided_by: v.decided_by,
            in_house: v.in_house,
        }
    }
}

#[utoipa::path(post, path = "/api/v1/queries", request_body = FileQuery, tag = "queries",
    responses((status = 201, body = QueryResource, description = "filed"), (status = 200, body = QueryResource, description = "already filed with this idempotency key"),
        (status = 400, description = "invalid body", content_type = "application/problem+json"), (status = 401, description = "missing or unknown API key or session", content_type = "application/problem+json"),
        (status = 403, description = "別表第二 does not allow it, the duty is not the caller's (`duty-not-assigned`), or the caller's role may not file (`role-denied`)", content_type = "application/problem+json"),
        (status = 409, description = "the idempotency key was used for another query", content_type = "application/problem+json"), (status = 415, description = "the body is not JSON (Content-Type)", content_type = "application/problem+json"),
        (status = 422, description = "unknown provider or person not registered", content_type = "application/problem+json")),
    security(("api_key" = []), ("session" = [])))]
pub async fn file_query(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    ApiJson(body): ApiJson<FileQuery>,
) -> Result<(StatusCode, Json<QueryResource>), Problem> {
    let act = caller.act(Action::FileQuery)?;
    let filing = QueryFiling {
        duty: body.duty,
        provider: body.provider_org,
        items: body.items,
        addressee: body.addressee_no,
        reference_date: body.reference_date,
        idempotency_key: body.idempotency_key,
        filed_by: act.actor.to_owned(),
    };
    match crate::filing::file_as(&p, &act, filing).await? {
        (view, true) => Ok((StatusCode::CREATED, Json(view.into()))),
        (view, false) => Ok((StatusCode::OK, Json(view.into()))),
    }
}

#[utoipa::path(get, path = "/api/v1/queries/{id}", tag = "queries", params(("id" = String, Path, description = "query id")),
    responses((status = 200, body = QueryResource), (status = 401, description = "missing or unknown API key or session", content_type = "application/problem+json"),
        (status = 404, description = "no such query for this org", content_type = "application/problem+json"),
        (status = 403, description = "the caller's role may not do this (`role-denied`)", content_type = "application/problem+json")),
    security(("api_key" = []), ("session" = [])))]
pub async fn get_query(State(p): State<Arc<Platform>>, caller: Caller, Path(id): Path<String>) -> Result<Json<QueryResource>, Problem> {
    let act = caller.act(Action::ReadQueries)?;
    Ok(Json(act.query(&p, &id).await?.into()))
}

/// Largest CSV body of a bulk load over the API. Go-live loads of millions of lines go through
/// `renkei import` on the platform itself.
pub const IMPORT_BODY_LIMIT: usize = 64 << 20;

/// How to read an uploaded CSV file.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ImportParams {
    /// `auto` (default), `utf-8` or `cp932`.
    pub encoding: Option<String>,
    /// Apply the good lines and report the bad ones (default: any bad line applies nothing).
    #[serde(default)]
    pub skip_bad: bool,
    /// The org whose file it is: a tenant admin names one of the tenant's; a client system or
    /// a staff member loads for their own org and may leave it out.
    #[param(value_type = Option<String>)]
    pub org: Option<OrgId>,
}

/// What a bulk load did, with its bad lines (at most [`MAX_REPORTED_LINES`]).
#[derive(Debug, Serialize, ToSchema)]
pub struct ImportReport {
    #[serde(flatten)]
    pub summary: ImportSummary,
    pub bad_lines: Vec<BadLine>,
    /// More lines were bad than are listed.
    pub bad_lines_truncated: bool,
}

/// Bad lines listed in one answer.
pub const MAX_REPORTED_LINES: usize = 1000;

struct Collect(Vec<BadLine>, bool);

impl Observer for Collect {
    fn bad_line(&mut self, bad: BadLine) {
        if self.0.len() < MAX_REPORTED_LINES { self.0.push(bad) } else { self.1 = true }
    }
}

/// What an uploaded file holds (layouts: docs/csv-layouts.md).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ImportKind {
    Persons,
    Copies,
}

/// 一括登録: load a CSV file of persons or provision copies (layouts: docs/csv-layouts.md) for
/// the caller's org, in one transaction.
#[utoipa::path(post, path = "/api/v1/imports/{kind}", tag = "imports",
    params(("kind" = ImportKind, Path, description = "what the file holds"), ImportParams),
    request_body(content = String, content_type = "text/csv", description = "The CSV file, UTF-8 (BOM optional) or CP932"),
    responses((status = 200, body = ImportReport, description = "applied (with --skip-bad, bad lines are listed)"),
        (status = 422, description = "bad lines: nothing was applied; the problem lists them (`summary`, `bad_lines`)", content_type = "application/problem+json"),
        (status = 400, description = "unreadable file: empty, wrong header or encoding", content_type = "application/problem+json"),
        (status = 413, description = "larger than 64 MiB", content_type = "application/problem+json"),
        (status = 401, description = "missing or unknown API key or session", content_type = "application/problem+json"), (status = 404, description = "no such kind of file", content_type = "application/problem+json"),
        (status = 507, description = "the platform's storage is full: nothing was applied", content_type = "application/problem+json"),
        (status = 500, description = "`not-audited`: the load ended, applied or refused as `detail` says, but its audit entry could not be written", content_type = "application/problem+json"),
        (status = 403, description = "the caller's role may not do this (`role-denied`)", content_type = "application/problem+json")),
    security(("api_key" = []), ("session" = [])))]
pub async fn import_file(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    kind: Result<Path<ImportKind>, axum::extract::rejection::PathRejection>,
    params: Result<Query<ImportParams>, axum::extract::rejection::QueryRejection>,
    body: axum::body::Body,
) -> Result<Json<ImportReport>, Problem> {
    let act = caller.act(Action::BulkLoad)?;
    let params = self::params(params)?;
    let org = act.org_in_tenant(&p, params.org.clone()).await?;
    let kind = match kind.map_err(|_| Problem::not_found())? {
        Path(ImportKind::Persons) => FileKind::Persons,
        Path(ImportKind::Copies) => FileKind::Copies,
    };
    let encoding = match params.encoding.as_deref() {
        None | Some("auto") => None,
        Some(e) => {
            Some(Encoding::parse(e).ok_or_else(|| Problem::detailed(ProblemKind::InvalidQuery, "encoding is auto, utf-8 or cp932"))?)
        }
    };
    let opts = ImportOptions { kind, encoding, skip_bad: params.skip_bad, actor: act.actor.to_owned() };
    let input = crate::import::receive(&p, &org, &opts, body, IMPORT_BODY_LIMIT).await.map_err(import_problem)?;
    let (summary, Collect(bad_lines, truncated)) =
        crate::import::import_detached(p.clone(), org, input, opts, Collect(Vec::new(), false)).await.map_err(import_problem)?;
    let report = ImportReport { summary, bad_lines, bad_lines_truncated: truncated };
    if !report.summary.applied {
        return Err(Problem::new(ProblemKind::ImportRejected)
            .with_detail(format!("{} bad lines; fix them, or load with skip_bad=true", report.summary.bad))
            .with_extension("summary", serde_json::to_value(&report.summary).unwrap_or_default())
            .with_extension("bad_lines", serde_json::to_value(&report.bad_lines).unwrap_or_default())
            .with_extension("bad_lines_truncated", Value::Bool(report.bad_lines_truncated)));
    }
    Ok(Json(report))
}

fn import_problem(e: ImportError) -> Problem {
    match e {
        ImportError::Input(d) => Problem::detailed(ProblemKind::UnreadableFile, d),
        ImportError::Read(e) if e.kind() == std::io::ErrorKind::FileTooLarge => Problem::new(ProblemKind::BodyTooLarge)
            .with_detail(format!("at most {IMPORT_BODY_LIMIT} bytes over the API; use `renkei import` for bigger files")),
        ImportError::Read(e) => Problem::detailed(ProblemKind::UnreadableFile, e.to_string()),
        ImportError::Hub(d) => hub_problem(d),
        ImportError::UnknownOrg(_) => gone("org"),
        ImportError::Store(e) => e.into(),
        e @ ImportError::NotAudited { .. } => {
            tracing::error!(error = %renkei_net::with_causes(&e), "bulk load not audited");
            Problem::new(ProblemKind::NotAudited).with_detail(e.to_string())
        }
    }
}

/// A page of a list: `limit` items (1–1000, default 100) after the cursor `after`, which is the
/// `next` of the page before.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct PageParams {
    /// Items on the page: 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

/// Which linkage records to list, a page at a time.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct RecordListParams {
    /// Items on the page: 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
    /// Only records of this duty (事務).
    #[param(value_type = Option<String>)]
    pub duty: Option<DutyCode>,
    /// Only records with this other org.
    #[param(value_type = Option<String>)]
    pub counterpart_org: Option<OrgId>,
}

/// The page `page` asks of the linkage records of `act`'s org (an auditor's: every org's) that
/// `filter` lets through, and the cursor of the next.
pub(crate) async fn record_page(
    p: &Platform,
    act: &Act<'_>,
    filter: &RecordFilter,
    page: PageParams,
) -> Result<(Vec<renkei_store::tenant::LinkageRecord>, Option<String>), Problem> {
    let limit = renkei_domain::page::limit(page.limit).map_err(|e| query_problem(e.to_string()))?;
    let after = renkei_domain::page::seq_cursor(page.after.as_deref()).map_err(|e| query_problem(e.to_string()))?;
    let records = act.store(p).await?.records(act.org_or_all(), filter, after, limit).await?;
    let next = renkei_domain::page::next(records.len(), limit, records.last().map(|r| r.seq.to_string()));
    Ok((records, next))
}

/// A page of 情報提供等記録 of the caller's org, oldest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecordList {
    pub records: Vec<RecordResource>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

/// Which queries a list shows, and its page.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct QueryListParams {
    /// created, pending_approval, queued, in_flight, answered or failed.
    pub state: Option<QueryState>,
    /// Filed at or after this time (RFC 3339, e.g. `2026-12-01T00:00:00+09:00`).
    #[param(value_type = Option<String>, format = DateTime)]
    pub filed_since: Option<chrono::DateTime<chrono::FixedOffset>>,
    /// Duty code (事務).
    #[param(value_type = Option<String>)]
    pub duty: Option<DutyCode>,
    /// Items on the page: 1–1000 (default 100).
    #[param(minimum = 1, maximum = 1000)]
    pub limit: Option<usize>,
    /// The `next` cursor of the previous page.
    pub after: Option<String>,
}

/// A page of the caller's org's queries, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct QueryList {
    pub queries: Vec<QueryResource>,
    /// Pass as `after` for the next page; absent on the last page.
    pub next: Option<String>,
}

pub(crate) fn query_problem(detail: impl Into<String>) -> Problem {
    Problem::detailed(ProblemKind::InvalidQuery, detail)
}

/// Query-string parameters, or a problem naming what is wrong without repeating it.
pub(crate) fn params<T>(params: Result<Query<T>, axum::extract::rejection::QueryRejection>) -> Result<T, Problem> {
    params.map(|Query(p)| p).map_err(|e| query_problem(renkei_net::problem::without_values(&e.body_text())))
}

#[utoipa::path(get, path = "/api/v1/queries", tag = "queries", params(QueryListParams),
    responses((status = 200, body = QueryList), (status = 400, description = "a bad filter, limit or cursor", content_type = "application/problem+json"),
        (status = 401, description = "missing or unknown API key or session", content_type = "application/problem+json"),
        (status = 403, description = "the caller's role may not do this (`role-denied`)", content_type = "application/problem+json")),
    security(("api_key" = []), ("session" = [])))]
pub async fn list_queries(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    query: Result<Query<QueryListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<QueryList>, Problem> {
    let act = caller.act(Action::ReadQueries)?;
    let q = params(query)?;
    let filter =
        QueryFilter { state: q.state, filed_since_ms: q.filed_since.map(|t| t.timestamp_millis()), duty: q.duty, ..act.query_filter() };
    Ok(Json(query_page(&p, &act, &filter, PageParams { limit: q.limit, after: q.after }).await?))
}

/// The page `page` asks of the queries of `act`'s org that `filter` lets through.
pub(crate) async fn query_page(p: &Platform, act: &Act<'_>, filter: &QueryFilter, page: PageParams) -> Result<QueryList, Problem> {
    let limit = renkei_domain::page::limit(page.limit).map_err(|e| query_problem(e.to_string()))?;
    let after = renkei_domain::page::id_cursor(page.after.as_deref()).map_err(|e| query_problem(e.to_string()))?;
    let views = act.store(p).await?.queries(act.org()?, filter, after, limit).await?;
    let next = renkei_domain::page::next(views.len(), limit, views.last().map(|v| v.id.clone()));
    Ok(QueryList { queries: views.into_iter().map(QueryResource::from).collect(), next })
}

#[derive(Debug, Serialize, ToSchema)]
pub struct RecordResource {
    pub seq: i64,
    /// The org of the tenant the record is of (an auditor reads every org's).
    #[schema(value_type = String)]
    pub org: OrgId,
    /// Which side of the linkage this org was.
    pub role: Side,
    #[schema(value_type = String)]
    pub request_id: RequestId,
    #[schema(value_type = String)]
    pub counterpart_org: OrgId,
    #[schema(value_type = String)]
    pub duty: DutyCode,
    #[schema(value_type = Vec<String>)]
    pub items: Vec<ItemCode>,
    pub outcome: RecordOutcome,
    /// Seconds since the Unix epoch.
    pub at: i64,
    /// A same-office linkage (庁内連携), answered inside the platform.
    pub in_house: bool,
}

#[utoipa::path(get, path = "/api/v1/records", tag = "records", params(RecordListParams),
    responses((status = 200, body = RecordList), (status = 400, description = "a bad limit, cursor, duty or org code", content_type = "application/problem+json"),
        (status = 401, description = "missing or unknown API key or session", content_type = "application/problem+json"),
        (status = 403, description = "the caller's role may not do this (`role-denied`)", content_type = "application/problem+json")),
    security(("api_key" = []), ("session" = [])))]
pub async fn list_records(
    State(p): State<Arc<Platform>>,
    caller: Caller,
    page: Result<Query<RecordListParams>, axum::extract::rejection::QueryRejection>,
) -> Result<Json<RecordList>, Problem> {
    let act = caller.act(Action::ReadLinkageRecords)?;
    let q = params(page)?;
    let filter = RecordFilter { duty: q.duty, counterpart: q.counterpart_org };
    let (records, next) = record_page(&p, &act, &filter, PageParams { limit: q.limit, after: q.after }).await?;
    let records = records
        .into_iter()
        .map(|r| RecordResource {
            seq: r.seq,
            org: r.org,
            role: r.side,
            request_id: r.request_id,
            counterpart_org: r.counterpart_org,
            duty: r.duty,
            items: r.items,
            outcome: r.outcome,
            at: r.at,
            in_house: r.in_house,
        })
        .collect();
    Ok(Json(RecordList { records, next }))
}
