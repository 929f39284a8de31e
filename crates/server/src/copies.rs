//! 副本 as the platform takes one from a client system: an item of 別表第二, fields every answer
//! built from them can carry (`domain::copy`), stored with its history. Bulk loads check the same
//! per line (`import.rs`).

use crate::Platform;
use renkei_domain::copy::FieldsError;
use renkei_domain::{AddresseeNo, Date, ItemCode, OrgId};
use renkei_net::{Problem, ProblemKind};
use renkei_store::StoreError;
use renkei_store::tenant::TenantStore;
use serde_json::{Map, Value};

/// Why a copy was not stored.
#[derive(Debug, thiserror::Error)]
pub enum CopyError {
    #[error("item {0} is not in 別表第二")]
    UnknownItem(ItemCode),
    #[error("fields: {0}")]
    Fields(#[from] FieldsError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl From<CopyError> for Problem {
    fn from(e: CopyError) -> Self {
        let detail = e.to_string();
        match e {
            CopyError::UnknownItem(_) => Problem::detailed(ProblemKind::UnknownItem, detail),
            CopyError::Fields(_) => Problem::detailed(ProblemKind::InvalidFields, detail),
            CopyError::Store(e) => e.into(),
        }
    }
}

impl Platform {
    /// Stores one version of `item` of `addressee` for `org`, valid from `valid_from`.
    pub async fn upsert_copy(
        &self,
        store: &TenantStore,
        org: &OrgId,
        addressee: &AddresseeNo,
        item: &ItemCode,
        valid_from: Date,
        fields: &Map<String, Value>,
    ) -> Result<(), CopyError> {
        if !self.matrix.knows_item(item) {
            return Err(CopyError::UnknownItem(item.clone()));
        }
        // Every answer built from accepted copies must fit every hop of the linkage.
        renkei_domain::copy::check_fields(fields)?;
        Ok(store.upsert_copy(org, addressee, item, valid_from, fields).await?)
    }
}
