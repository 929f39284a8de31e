//! A tenant admin's client-system API keys (既存システムのAPIキー): created for one org of the
//! tenant with the duties it may file for (shown once; only its hash is kept), listed, and
//! revoked — each act in the tenant's audit log. The JSON API (`/api/v1/api-keys…`) and the
//! admin's page call these; `renkei admin api-key-*` is the operator's way to the same store.

use crate::Platform;
use crate::caller::Act;
use renkei_domain::policy::DutyScope;
use renkei_domain::{DutyCode, OrgId};
use renkei_net::{Problem, ProblemKind};
use renkei_store::platform::{ApiKeyInfo, KeyScope};
use zeroize::Zeroizing;

/// Longest label of a key (its purpose, for the admin's list).
pub const MAX_LABEL_CHARS: usize = 100;

impl Platform {
    /// Every key of `act`'s tenant, revoked ones too, oldest first.
    pub async fn list_api_keys(&self, act: &Act<'_>) -> Result<Vec<ApiKeyInfo>, Problem> {
        Ok(self.platform.api_keys(act.tenant).await?)
    }

    /// A new key for `org` of `act`'s tenant that may file for `duties` (empty: every duty
    /// 別表第二 gives the org): the secret, shown this once, and the key's id.
    pub async fn create_api_key(
        &self,
        act: &Act<'_>,
        org: &OrgId,
        label: &str,
        duties: &[DutyCode],
    ) -> Result<(Zeroizing<String>, String), Problem> {
        let org_ctx = self.org(org).await?.filter(|o| &o.tenant == act.tenant).ok_or_else(Problem::not_found)?;
        let label = label.trim();
        if label.is_empty() || label.chars().count() > MAX_LABEL_CHARS || label.chars().any(char::is_control) {
            return Err(Problem::detailed(
                ProblemKind::InvalidBody,
                format!("label: 1–{MAX_LABEL_CHARS} characters, without control characters"),
            ));
        }
        if let Some(d) = duties.iter().find(|d| !self.matrix.files_for(&org_ctx.org_type, d)) {
            return Err(Problem::detailed(ProblemKind::InvalidBody, format!("別表第二 gives {org} no duty {d}")));
        }
        let duties = if duties.is_empty() { DutyScope::All } else { DutyScope::Only(duties.iter().cloned().collect()) };
        let scope = KeyScope { tenant: act.tenant.clone(), org: org.clone(), duties };
        let (secret, hash) = renkei_crypto::apikey::generate();
        self.platform.add_api_key(&scope, &hash, label, act.actor).await?;
        Ok((Zeroizing::new(secret), renkei_store::platform::key_id(&hash)))
    }

    /// Revokes the live key `id` of `act`'s tenant; every server refuses it within
    /// [`crate::KEY_CACHE_TTL`]. Another tenant's, or none, is not found.
    pub async fn revoke_tenant_api_key(&self, act: &Act<'_>, id: &str) -> Result<ApiKeyInfo, Problem> {
        self.platform.revoke_api_key(act.tenant, id, act.actor).await?.ok_or_else(Problem::not_found)
    }
}
