//! Persons (宛名番号 ↔ the org's 符号): registration and look-ups by blind index.

use super::*;

/// A person's registration result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Registration {
    Created,
    AlreadyRegistered,
}

/// One column of a person read through one blind index: (index column, value column, the
/// value's associated-data table). Fixed names from this module, never input.
pub(super) type PersonColumn = (&'static str, &'static str, &'static str);

/// Whether `org` has a person under the blind index `a_idx`.
pub(super) fn person_known(tx: &mut dyn Tx, tenant: &str, org: &str, a_idx: &str) -> Result<bool> {
    tx.value("SELECT EXISTS(SELECT 1 FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx = ?3)", args![tenant, org, a_idx])
}

pub(super) const CODE_BY_ADDRESSEE: PersonColumn = ("addressee_idx", "code_enc", "persons.code");

pub(super) const ADDRESSEE_BY_CODE: PersonColumn = ("code_idx", "addressee_enc", "persons.addressee");

/// Looks a person of `org` up by one blind index and decrypts one of its columns, inside `tx`.
pub(super) fn read_person_column(
    tx: &mut dyn Tx,
    dk: &DataKey,
    tenant: &str,
    org: &str,
    column: PersonColumn,
    index: &str,
) -> Result<Option<String>> {
    let (index_column, value_column, aad_table) = column;
    let sql = format!("SELECT id, {value_column} FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND {index_column} = ?3");
    tx.query_opt(&sql, args![tenant, org, index])?
        .map(|r| String::from_utf8(dk.decrypt(aad_table, &r.get::<String>(0)?, &r.get::<Vec<u8>>(1)?)?).map_err(corrupt))
        .transpose()
}

impl TenantStore {
    /// Registers `addressee ↔ code` for `org`. Idempotent: registering the same pair again is
    /// `AlreadyRegistered`; the same addressee with another code is a conflict.
    pub async fn register_person(&self, org: &OrgId, addressee: &AddresseeNo, code: &OrgCode) -> Result<Registration> {
        self.register_in_orgs(addressee, &[(org.clone(), code.clone())]).await
    }

    /// Registers the person `addressee` of the tenant (団体内統合宛名番号) in each org with that
    /// org's own code, in one transaction: `Created` if some org did not know them, else
    /// `AlreadyRegistered`; the addressee with another code in any org is a conflict, and then
    /// nothing is written.
    pub async fn register_in_orgs(&self, addressee: &AddresseeNo, codes: &[(OrgId, OrgCode)]) -> Result<Registration> {
        let mut rows = Vec::with_capacity(codes.len());
        for (org, code) in codes {
            let id = new_id();
            let a_enc = self.dk.encrypt("persons.addressee", &id, addressee.as_str().as_bytes())?;
            let c_enc = self.dk.encrypt("persons.code", &id, code.as_str().as_bytes())?;
            rows.push((org.to_string(), id, self.addressee_idx(org, addressee), a_enc, self.code_idx(org, code), c_enc));
        }
        let (tenant, probe) = (self.tenant.to_string(), i64::from(addressee.is_probe()));
        self.tx(move |tx| {
            let mut created = false;
            for (org, id, a_idx, a_enc, c_idx, c_enc) in rows {
                let existing = tx.query_opt(
                    "SELECT code_idx FROM persons WHERE tenant_id = ?1 AND org_id = ?2 AND addressee_idx = ?3",
                    args![tenant, org, a_idx],
                )?;
                match existing.map(|r| r.get::<String>(0)).transpose()? {
                    Some(c) if c == c_idx => {}
                    Some(_) => return Err(StoreError::Conflict("the addressee number is registered with another code".into())),
                    None => {
                        tx.execute(
                            "INSERT INTO persons (tenant_id, org_id, id, addressee_idx, addressee_enc, code_idx, code_enc, created_at, probe)
                             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                            args![tenant, org, id, a_idx, a_enc, c_idx, c_enc, now_unix(), probe],
                        )
                        .map_err(|e| match e {
                            StoreError::Duplicate(_) => StoreError::Conflict("the code is registered to another addressee number".into()),
                            e => e,
                        })?;
                        created = true;
                    }
                }
            }
            Ok(if created { Registration::Created } else { Registration::AlreadyRegistered })
        })
        .await
    }

    /// The code `org` holds for `addressee`, if registered.
    pub async fn person_code(&self, org: &OrgId, addressee: &AddresseeNo) -> Result<Option<OrgCode>> {
        let plain = self.person_column(org, CODE_BY_ADDRESSEE, self.addressee_idx(org, addressee)).await?;
        plain.map(|p| OrgCode::parse(&p).map_err(corrupt)).transpose()
    }

    /// The addressee number `org` registered under `code`, if any (used to answer a query).
    pub async fn person_by_code(&self, org: &OrgId, code: &OrgCode) -> Result<Option<AddresseeNo>> {
        let plain = self.person_column(org, ADDRESSEE_BY_CODE, self.code_idx(org, code)).await?;
        plain.map(|p| AddresseeNo::parse(&p).map_err(corrupt)).transpose()
    }

    /// [`read_person_column`] in a transaction of its own.
    pub(super) async fn person_column(&self, org: &OrgId, column: PersonColumn, index: String) -> Result<Option<String>> {
        let (tenant, org, dk) = (self.tenant.to_string(), org.to_string(), self.dk.clone());
        self.read(move |tx| read_person_column(tx, &dk, &tenant, &org, column, &index)).await
    }
}
