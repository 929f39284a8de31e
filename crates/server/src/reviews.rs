//! A provider's marks and manual review as the platform runs them: a client system or a tenant
//! admin marks a person's item manual (自動応答不可) or withheld (不開示); the org's staff list
//! the forwarded queries held for a manual item and provide or decline them. The rule of what an
//! answer then holds is `domain::marks`'; the answer is made by `server::provision`. Each act is
//! an entry of the tenant's audit log, naming no person.

use crate::Platform;
use crate::caller::Act;
use crate::import::BadLine;
use crate::provision::Basis;
use renkei_domain::bulk::LineError;
use renkei_domain::marks::{ItemMark, Review};
use renkei_domain::wire::ForwardedQuery;
use renkei_domain::{AddresseeNo, ItemCode, OrgId};
use renkei_net::{Problem, ProblemKind};
use renkei_store::tenant::{AnswerBasis, HeldQuery};

/// A held query as the provider's staff see it.
pub struct HeldView {
    pub held: HeldQuery,
    pub query: ForwardedQuery,
    /// The person asked about, as the org registered them.
    pub addressee: Option<AddresseeNo>,
}

impl Platform {
    /// Marks `item` of the person `addressee` of an org (a new version); returns the org and
    /// the version.
    pub async fn set_mark(
        &self,
        act: &Act<'_>,
        org: Option<OrgId>,
        addressee: &AddresseeNo,
        item: &ItemCode,
        mark: ItemMark,
    ) -> Result<(OrgId, i64), Problem> {
        if !self.matrix.knows_item(item) {
            return Err(Problem::detailed(ProblemKind::UnknownItem, format!("item {item} is not in 別表第二")));
        }
        let org = act.org_in_tenant(self, org).await?;
        let version = act.store(self).await?.set_mark(&org, addressee, item, mark, act.actor).await?;
        act.audit_always(self, "mark.set", &format!("org:{org}"), &format!("item {item} {} version {version}", mark.code())).await?;
        Ok((org, version))
    }

    /// Sets every mark of a CSV file (docs/csv-layouts.md) in one org, all or none: their
    /// count, or a problem listing each bad line (a person not registered in the org too).
    pub async fn set_marks_csv(&self, act: &Act<'_>, org: Option<OrgId>, csv: &[u8]) -> Result<(OrgId, usize), Problem> {
        use renkei_domain::marks::MarksFileError;
        let lines = match renkei_domain::marks::read_marks_csv(csv, |i| self.matrix.knows_item(i)) {
            Ok(lines) => lines,
            Err(MarksFileError::Unreadable(why)) => return Err(Problem::detailed(ProblemKind::UnreadableFile, why)),
            Err(MarksFileError::BadLines(bad)) => return Err(bad_lines(bad.into_iter().map(|(l, e)| BadLine::new(l, e)).collect())),
        };
        let org = act.org_in_tenant(self, org).await?;
        let versions = match act.store(self).await?.set_marks(&org, &lines, act.actor).await? {
            Ok(versions) => versions,
            Err(missing) => {
                let not_registered = |i: usize| {
                    BadLine::new(i as u64 + 2, LineError::at(0, "addressee_no", "no person of the org has this addressee number"))
                };
                return Err(bad_lines(missing.into_iter().map(not_registered).collect()));
            }
        };
        act.audit_always(self, "mark.load", &format!("org:{org}"), &format!("{} marks", versions.len())).await?;
        Ok((org, versions.len()))
    }

    /// The org `act` lists marks of.
    pub async fn marks(&self, act: &Act<'_>, org: Option<OrgId>) -> Result<(OrgId, Vec<renkei_store::tenant::MarkView>), Problem> {
        let org = act.org_in_tenant(self, org).await?;
        let marks = act.store(self).await?.marks(&org).await?;
        Ok((org, marks))
    }

    /// The queries held for the staff of `act`'s org, oldest first.
    pub async fn held_queries(&self, act: &Act<'_>) -> Result<Vec<HeldView>, Problem> {
        let org = act.org()?;
        let store = act.store(self).await?;
        let mut out = Vec::new();
        for held in store.pending_reviews(org).await? {
            let query: ForwardedQuery = serde_json::from_str(&held.forwarded).map_err(|_| Problem::internal())?;
            let addressee = store.person_by_code(org, &query.provider_code).await?;
            out.push(HeldView { held, query, addressee });
        }
        Ok(out)
    }

    /// Provides or declines the held query `request_id` of `act`'s org; it is answered at the
    /// hub's next ask. Another org's is not found; one decided already is a conflict.
    pub async fn review(&self, act: &Act<'_>, request_id: &str, review: Review) -> Result<(), Problem> {
        if let Review::Decline(reason) = &review
            && !renkei_domain::approval::reason_is_fit(reason)
        {
            let max = renkei_domain::approval::MAX_REASON_CHARS;
            return Err(Problem::detailed(ProblemKind::InvalidBody, format!("reason: 1–{max} characters, without control characters")));
        }
        let org = self.org(act.org()?).await?.ok_or_else(|| crate::caller::gone("org"))?;
        let store = act.store(self).await?;
        let held = store.held_query(&org.id, request_id).await?.ok_or_else(Problem::not_found)?;
        if held.decided_by.is_some() {
            return Err(Problem::detailed(ProblemKind::Conflict, "the query was decided already"));
        }
        let q: ForwardedQuery = serde_json::from_str(&held.forwarded).map_err(|_| Problem::internal())?;
        let basis = match store.answer_basis(&org.id, &q.request_id, &q.provider_code, &q.items, q.reference_date, true).await? {
            AnswerBasis::Copies { copies, marks } => Basis::Copies { copies, marks },
            AnswerBasis::NotRegistered => Basis::NotRegistered,
            AnswerBasis::Answered(_) | AnswerBasis::Held => {
                return Err(Problem::detailed(ProblemKind::Conflict, "the query was decided already"));
            }
        };
        let action = match review {
            Review::Provide => "review.provide",
            Review::Decline(_) => "review.decline",
        };
        self.provide(&org, &store, &q, basis, Some((&review, act.actor))).await?;
        act.audit(self, action, &format!("request:{}", q.request_id), &format!("requester {} duty {}", q.requester, q.duty)).await
    }
}

/// A marks file with bad lines: nothing was set.
fn bad_lines(bad: Vec<BadLine>) -> Problem {
    Problem::new(ProblemKind::ImportRejected)
        .with_detail(format!("{} bad lines; nothing was set", bad.len()))
        .with_extension("bad_lines", serde_json::to_value(&bad).unwrap_or_default())
}
