//! 符号取得 as the platform does it for one person: the addressee number names the person for
//! the whole tenant (団体内統合宛名番号), so one hub request gives the codes of every org of the
//! tenant for the Individual Number, each org's store row keeps only its own code, and the
//! number is forgotten. Bulk loads do the same in batches (`import.rs`).

use crate::caller::Act;
use crate::{OrgContext, Platform};
use renkei_domain::{AddresseeNo, IndividualNumber, OrgCode, OrgId};
use renkei_net::{Problem, ProblemKind};
use renkei_store::StoreError;
use renkei_store::tenant::{Registration, TenantStore};

/// Why a person was not registered.
#[derive(Debug, thiserror::Error)]
pub enum RegisterError {
    /// The hub could not be reached or refused (its words, never the number).
    #[error("{0}")]
    Hub(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<RegisterError> for Problem {
    fn from(e: RegisterError) -> Self {
        match e {
            RegisterError::Hub(detail) => crate::hub_problem(detail),
            RegisterError::Store(e) => e.into(),
        }
    }
}

/// Registers `addressee` with the Individual Number `number` (as typed: checked here) as the
/// caller `act` (of `Action::RegisterPerson`), auditing a person's new registration.
pub async fn register_as(p: &Platform, act: &Act<'_>, addressee: &AddresseeNo, number: &str) -> Result<Registration, Problem> {
    p.admit_addressee(act, addressee)?;
    let number = IndividualNumber::parse(number).map_err(|e| Problem::detailed(ProblemKind::InvalidIndividualNumber, e.to_string()))?;
    let org = act.org_context(p).await?;
    let store = act.store(p).await?;
    let status = p.register_person(&org, &store, addressee, number).await?;
    if status == Registration::Created {
        act.audit(p, "person.register", &format!("org:{}", org.id), "").await?;
    }
    Ok(status)
}

/// Whether `addressee` is registered in the caller's org (`Action::ReadPerson`): a look-up by
/// 宛名番号 that reveals nothing but that, never the person's code.
pub async fn is_registered(p: &Platform, act: &Act<'_>, addressee: &AddresseeNo) -> Result<bool, Problem> {
    Ok(act.store(p).await?.person_code(act.org()?, addressee).await?.is_some())
}

impl Platform {
    /// Registers `addressee` of `org`'s tenant in every org of it, each with the code the hub
    /// gives that org for `number`, in one hub request and one transaction; the number is wiped
    /// when this returns. Registering the person again is `AlreadyRegistered`.
    pub async fn register_person(
        &self,
        org: &OrgContext,
        store: &TenantStore,
        addressee: &AddresseeNo,
        number: IndividualNumber,
    ) -> Result<Registration, RegisterError> {
        let siblings: Vec<OrgId> =
            self.platform.orgs(Some(&org.tenant)).await?.into_iter().map(|o| o.id).filter(|id| id != &org.id).collect();
        let codes = self.request_codes_with(org, siblings.clone(), vec![number.expose()]).await.map_err(RegisterError::Hub)?;
        drop(number);
        let first = |codes: Vec<OrgCode>| codes.into_iter().next().ok_or_else(|| RegisterError::Hub("the hub returned no code".into()));
        let mut each = vec![(org.id.clone(), first(codes.codes)?)];
        for (sibling, codes) in siblings.into_iter().zip(codes.siblings) {
            each.push((sibling, first(codes)?));
        }
        Ok(store.register_in_orgs(addressee, &each).await?)
    }
}
