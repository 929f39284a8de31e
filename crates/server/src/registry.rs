//! One person registry for the whole tenant (団体内統合宛名番号) made from registrations kept per
//! org, as earlier releases kept them: each org's persons are read a page at a time, the hub
//! gives every other org of the tenant its code for each (by the org's code: the Individual
//! Numbers are long forgotten), and each other org adopts that code under the same addressee
//! number unless what it knows contradicts it. Contradictions are listed, never resolved here:
//! an addressee number that names two persons in two orgs, or a person two orgs know under two
//! addressee numbers, is for the municipality to put right.
//!
//! Idempotent: run again, it adds nothing and lists what still contradicts. Run by the operator
//! after an upgrade (`renkei unify-registry`, counts only) and by the tenant admin
//! (`POST /api/v1/registry/unify`, the list).

use crate::Platform;
use renkei_domain::wire::MAX_CODES_PER_REQUEST;
use renkei_domain::{OrgId, TenantId};
use renkei_net::Problem;
use renkei_store::StoreError;
use renkei_store::tenant::Adoption;
use serde::Serialize;
use utoipa::ToSchema;

/// Contradictions listed in one report; the rest are counted.
pub const MAX_LISTED: usize = 1_000;

/// What unifying a tenant's registry did and found.
#[derive(Debug, Clone, Default, Serialize, ToSchema)]
pub struct UnifyReport {
    /// The tenant's orgs.
    pub orgs: usize,
    /// Persons looked at (each once, in the first org that knows them).
    pub checked: u64,
    /// Registrations added: an org now knows a person another org knew.
    pub added: u64,
    /// Contradictions found (each person and org once); the first [`MAX_LISTED`] are listed.
    pub conflicts: u64,
    pub listed: Vec<RegistryConflict>,
}

/// A registration that contradicts another org's, left as it is.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct RegistryConflict {
    pub kind: ConflictKind,
    /// The org whose registration was read.
    pub org: String,
    pub addressee_no: String,
    /// The org that contradicts it.
    pub other_org: String,
    /// With `person-under-another-number`: the addressee number `other_org` knows the person by.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub other_addressee_no: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum ConflictKind {
    /// `other_org` knows the addressee number as another person.
    AddresseeNamesAnotherPerson,
    /// `other_org` knows the person under another addressee number.
    PersonUnderAnotherNumber,
    /// The hub does not know `org`'s code for the person.
    UnknownToHub,
}

/// Why a tenant's registry could not be unified; what was adopted before stays (each page is
/// one transaction, and a run again carries on).
#[derive(Debug, thiserror::Error)]
pub enum UnifyError {
    #[error("tenant {0} is not hosted here")]
    UnknownTenant(TenantId),
    /// The hub could not be reached or refused (its words, never a code).
    #[error("the hub did not give codes: {0}")]
    Hub(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<UnifyError> for Problem {
    fn from(e: UnifyError) -> Self {
        match e {
            UnifyError::UnknownTenant(_) => Problem::internal(),
            UnifyError::Hub(detail) => crate::hub_problem(detail),
            UnifyError::Store(e) => e.into(),
        }
    }
}

impl UnifyReport {
    fn conflict(&mut self, kind: ConflictKind, org: &OrgId, addressee: &str, other_org: &OrgId, other: Option<String>) {
        self.conflicts += 1;
        if self.listed.len() < MAX_LISTED {
            self.listed.push(RegistryConflict {
                kind,
                org: org.to_string(),
                addressee_no: addressee.to_owned(),
                other_org: other_org.to_string(),
                other_addressee_no: other,
            });
        }
    }
}

impl Platform {
    /// Makes one person registry of `tenant` from its orgs' registrations; see the module doc.
    pub async fn unify_registry(&self, tenant: &TenantId) -> Result<UnifyReport, UnifyError> {
        let store = self.tenant_store(tenant).await?.ok_or_else(|| UnifyError::UnknownTenant(tenant.clone()))?;
        let mut orgs: Vec<OrgId> = self.platform.orgs(Some(tenant)).await?.into_iter().map(|o| o.id).collect();
        orgs.sort();
        let mut report = UnifyReport { orgs: orgs.len(), ..UnifyReport::default() };
        if orgs.len() < 2 {
            return Ok(report);
        }
        for (k, org) in orgs.iter().enumerate() {
            let ctx = self.org(org).await?.ok_or_else(|| UnifyError::UnknownTenant(tenant.clone()))?;
            let siblings: Vec<OrgId> = orgs.iter().filter(|o| *o != org).cloned().collect();
            let mut after = None;
            loop {
                let mut page = store.persons_page(org, after.clone(), MAX_CODES_PER_REQUEST).await?;
                let Some(last) = page.last() else { break };
                after = Some(last.id.clone());
                // A person an org before this one knows was looked at in that org's turn, with
                // this org among its siblings.
                for earlier in &orgs[..k] {
                    let addressees: Vec<_> = page.iter().map(|p| p.addressee.clone()).collect();
                    let known = store.known_addressees(earlier, &addressees).await?;
                    let mut known = known.into_iter();
                    page.retain(|_| !known.next().unwrap_or(false));
                }
                if page.is_empty() {
                    continue;
                }
                report.checked += page.len() as u64;
                let codes = page.iter().map(|p| p.code.clone()).collect();
                let theirs = self.request_sibling_codes(&ctx, codes, siblings.clone()).await.map_err(UnifyError::Hub)?;
                let mut rows = Vec::with_capacity(page.len() * siblings.len());
                let mut whose = Vec::with_capacity(rows.capacity());
                for (sibling, codes) in siblings.iter().zip(theirs) {
                    for (person, code) in page.iter().zip(codes) {
                        match code {
                            Some(code) => {
                                rows.push((person.addressee.clone(), sibling.clone(), code));
                                whose.push((person.addressee.as_str().to_owned(), sibling));
                            }
                            None => report.conflict(ConflictKind::UnknownToHub, org, person.addressee.as_str(), sibling, None),
                        }
                    }
                }
                for ((addressee, sibling), adopted) in whose.into_iter().zip(store.adopt_sibling_codes(rows).await?) {
                    match adopted {
                        Adoption::Added => report.added += 1,
                        Adoption::Known => {}
                        Adoption::AddresseeNamesAnother => {
                            report.conflict(ConflictKind::AddresseeNamesAnotherPerson, org, &addressee, sibling, None)
                        }
                        Adoption::PersonUnderAnother(other) => report.conflict(
                            ConflictKind::PersonUnderAnotherNumber,
                            org,
                            &addressee,
                            sibling,
                            Some(other.as_str().to_owned()),
                        ),
                    }
                }
            }
        }
        tracing::info!(%tenant, checked = report.checked, added = report.added, conflicts = report.conflicts, "person registry unified");
        Ok(report)
    }
}
