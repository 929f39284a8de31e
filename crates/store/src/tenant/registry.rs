//! One person registry for the tenant (団体内統合宛名番号) made from registrations that were kept
//! per org: each org's persons read a page at a time, and the codes the hub gives the other orgs
//! for them adopted where nothing contradicts them.

use super::*;

/// A person as one org registered them.
#[derive(Debug, Clone)]
pub struct RegisteredPerson {
    /// The row's id: pages follow it.
    pub id: String,
    pub addressee: AddresseeNo,
    pub code: OrgCode,
}

/// What adopting a sibling's code for a person did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Adoption {
    /// The sibling now knows the person under the addressee number, by its own code.
    Added,
    /// The sibling knew the person already, under the same addressee number.
    Known,
    /// The sibling knows the addressee number as another person (its code differs): left as is.
    AddresseeNamesAnother,
    /// The sibling knows the person under another addressee number: left as is.
    PersonUnderAnother(AddresseeNo),
}

impl TenantStore {
    /// Up to `limit` persons of `org` after the row `after`, in row order.
    pub async fn persons_page(&self, org: &OrgId, after: Option<String>, limit: usize) -> Result<Vec<RegisteredPerson>> {
        let (tenant, org, dk) = (self.tenant.to_string(), org.to_string(), self.dk.clone());
        self.read(move |tx| {
            let rows = tx.query(
                "SELECT id, addressee_enc, code_enc FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND id > ?3 ORDER BY id LIMIT ?4",
                args![tenant, org, after.unwrap_or_default(), limit as i64],
            )?;
            rows.iter()
                .map(|r| {
                    let id: String = r.get(0)?;
                    let plain = |table: &str, enc: Vec<u8>| String::from_utf8(dk.decrypt(table, &id, &enc)?).map_err(corrupt);
                    let addressee = AddresseeNo::parse(&plain("persons.addressee", r.get(1)?)?).map_err(corrupt)?;
                    let code = OrgCode::parse(&plain("persons.code", r.get(2)?)?).map_err(corrupt)?;
                    Ok(RegisteredPerson { id, addressee, code })
                })
                .collect()
        })
        .await
    }

    /// Which of `addressees` `org` knows.
    pub async fn known_addressees(&self, org: &OrgId, addressees: &[AddresseeNo]) -> Result<Vec<bool>> {
        let idx: Vec<String> = addressees.iter().map(|a| self.addressee_idx(org, a)).collect();
        let (tenant, org) = (self.tenant.to_string(), org.to_string());
        self.read(move |tx| {
            let mut known = std::collections::HashSet::with_capacity(idx.len());
            for chunk in idx.chunks(crate::db::rows_per_statement(tx)) {
                let mut args = vec![tenant.to_value(), org.to_value()];
                args.extend(chunk.iter().map(|a| a.to_value()));
                let sql = format!(
                    "SELECT addressee_idx FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx IN ({})",
                    crate::db::placeholders(3, chunk.len())
                );
                for r in tx.query(&sql, &args)? {
                    known.insert(r.get::<String>(0)?);
                }
            }
            Ok(idx.iter().map(|a| known.contains(a)).collect())
        })
        .await
    }

    /// Registers each (addressee, org, code) where the org knows neither the addressee number nor
    /// the code, in one transaction; anything that contradicts what the org knows is left as it
    /// is and said. Results in the order given.
    pub async fn adopt_sibling_codes(&self, rows: Vec<(AddresseeNo, OrgId, OrgCode)>) -> Result<Vec<Adoption>> {
        let (tenant, dk) = (self.tenant.to_string(), self.dk.clone());
        self.tx(move |tx| {
            let mut out = Vec::with_capacity(rows.len());
            for (addressee, org, code) in rows {
                let (a_idx, c_idx) = (addressee_idx(&dk, &org, &addressee), code_idx(&dk, &org, &code));
                let known = tx.query_opt(
                    "SELECT code_idx FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx = ?3",
                    args![tenant, org.as_str(), a_idx],
                )?;
                let adoption = match known.map(|r| r.get::<String>(0)).transpose()? {
                    Some(c) if c == c_idx => Adoption::Known,
                    Some(_) => Adoption::AddresseeNamesAnother,
                    None => match read_person_column(tx, &dk, &tenant, org.as_str(), ADDRESSEE_BY_CODE, &c_idx)? {
                        Some(other) => Adoption::PersonUnderAnother(AddresseeNo::parse(&other).map_err(corrupt)?),
                        None => {
                            let id = new_id();
                            let a_enc = dk.encrypt("persons.addressee", &id, addressee.as_str().as_bytes())?;
                            let c_enc = dk.encrypt("persons.code", &id, code.as_str().as_bytes())?;
                            tx.execute(
                                "INSERT INTO persons (tenant_id, org_id, id, addressee_idx, addressee_enc, code_idx, code_enc, created_at)
                                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
                                args![tenant, org.as_str(), id, a_idx, a_enc, c_idx, c_enc, now_unix()],
                            )?;
                            Adoption::Added
                        }
                    },
                };
                out.push(adoption);
            }
            Ok(out)
        })
        .await
    }
}
