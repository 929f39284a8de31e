//! 複数団体: consortia of tenants and which tenants each holds. The operator makes them (each act
//! in the platform's audit chain); a consortium admin's account names one, and reads its
//! tenants' status through it.

use crate::audit::{AuditEvent, append};
use crate::db::Scope;
use crate::platform::PlatformStore;
use crate::{Result, StoreError, args};
use renkei_domain::{ConsortiumId, TenantId};

/// A consortium and its tenants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consortium {
    pub id: ConsortiumId,
    pub name: String,
    /// By id.
    pub tenants: Vec<TenantId>,
    /// The weights its statement shares the cost by, as E:P:U.
    pub cost_weights: String,
}

fn parsed<T, E: std::fmt::Display>(r: std::result::Result<T, E>) -> Result<T> {
    r.map_err(|e| StoreError::Corrupt(e.to_string()))
}

impl PlatformStore {
    /// Makes consortium `id` of `tenants` (each must be hosted), or sets the tenants of the one
    /// that exists: the operator's act, audited as `actor`.
    pub async fn set_consortium(&self, id: &ConsortiumId, name: &str, tenants: &[TenantId], actor: &str) -> Result<()> {
        let (id, name, actor) = (id.to_string(), name.to_owned(), actor.to_owned());
        let tenants: Vec<String> = tenants.iter().map(ToString::to_string).collect();
        self.db
            .tx(Scope::Operator, move |tx| {
                for t in &tenants {
                    if !tx.value::<bool>("SELECT EXISTS(SELECT 1 FROM tenants WHERE id = ?1)", args![t])? {
                        return Err(StoreError::NotFound("tenant"));
                    }
                }
                let exists: bool = tx.value("SELECT EXISTS(SELECT 1 FROM consortia WHERE id = ?1)", args![id])?;
                if exists {
                    tx.execute("UPDATE consortia SET name = ?2 WHERE id = ?1", args![id, name])?;
                    tx.execute("DELETE FROM consortium_tenants WHERE consortium_id = ?1", args![id])?;
                } else {
                    tx.execute("INSERT INTO consortia (id, name, created_at) VALUES (?1, ?2, ?3)", args![id, name, crate::now_unix()])?;
                }
                for t in &tenants {
                    tx.execute("INSERT INTO consortium_tenants (consortium_id, tenant_id) VALUES (?1, ?2)", args![id, t])?;
                }
                let (target, detail) = (format!("consortium:{id}"), format!("tenants={}", tenants.join(",")));
                let event = AuditEvent { actor: &actor, role: "operator", action: "consortium.set", target: &target, detail: &detail };
                append(tx, "", &event)
            })
            .await
    }

    /// Every consortium with its tenants, by id.
    pub async fn consortia(&self) -> Result<Vec<Consortium>> {
        self.db
            .read(Scope::Operator, |tx| {
                let mut out: Vec<Consortium> = Vec::new();
                let rows = tx.query(
                    "SELECT c.id, c.name, m.tenant_id, c.cost_weights FROM consortia c LEFT JOIN consortium_tenants m ON m.consortium_id = c.id
                     ORDER BY c.id, m.tenant_id",
                    &[],
                )?;
                for r in rows.iter() {
                    let id = parsed(ConsortiumId::parse(&r.get::<String>(0)?))?;
                    if out.last().is_none_or(|c| c.id != id) {
                        out.push(Consortium { id, name: r.get(1)?, tenants: Vec::new(), cost_weights: r.get(3)? });
                    }
                    if let (Some(t), Some(c)) = (r.get::<Option<String>>(2)?, out.last_mut()) {
                        c.tenants.push(parsed(TenantId::parse(&t))?);
                    }
                }
                Ok(out)
            })
            .await
    }

    /// Sets the weights (E:P:U, checked by the caller) consortium `id`'s statement shares the
    /// cost by, audited; not found if there is no such consortium.
    pub async fn set_cost_weights(&self, id: &ConsortiumId, weights: &str, actor: &str) -> Result<()> {
        let (id, weights, actor) = (id.clone(), weights.to_owned(), actor.to_owned());
        self.db
            .tx(Scope::Operator, move |tx| {
                if tx.execute("UPDATE consortia SET cost_weights = ?2 WHERE id = ?1", args![id.as_str(), weights])? == 0 {
                    return Err(StoreError::NotFound("consortium"));
                }
                let event = crate::audit::AuditEvent {
                    actor: &actor,
                    role: "",
                    action: "consortium.cost_weights",
                    target: &format!("consortium:{id}"),
                    detail: &weights,
                };
                crate::audit::append(tx, "", &event)
            })
            .await
    }

    /// Consortium `id`, if there is one.
    pub async fn consortium(&self, id: &ConsortiumId) -> Result<Option<Consortium>> {
        Ok(self.consortia().await?.into_iter().find(|c| &c.id == id))
    }
}
