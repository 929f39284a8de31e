//! 符号取得 as the platform does it for one person: the hub gives the org's code for the
//! Individual Number, the tenant's store keeps addressee number ↔ code, and the number is
//! forgotten. Bulk loads do the same in batches (`import.rs`).

use crate::{OrgContext, Platform};
use renkei_domain::{AddresseeNo, IndividualNumber};
use renkei_net::Problem;
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

impl Platform {
    /// Registers `addressee` of `org` with the code the hub gives for `number`; the number is
    /// wiped when this returns. Registering the same pair again is `AlreadyRegistered`.
    pub async fn register_person(
        &self,
        org: &OrgContext,
        store: &TenantStore,
        addressee: &AddresseeNo,
        number: IndividualNumber,
    ) -> Result<Registration, RegisterError> {
        let codes = self.request_codes(org, vec![number.expose()]).await.map_err(RegisterError::Hub)?;
        drop(number);
        let code = codes.into_iter().next().ok_or_else(|| RegisterError::Hub("the hub returned no code".into()))?;
        Ok(store.register_person(&org.id, addressee, &code).await?)
    }
}
