//! Codes (機関別符号): one per (org, person), minted on first request, keyed by the keyed hash of
//! the Individual Number.

use super::*;

/// The codes `org` already has for these persons, 500 keys per statement.
pub(super) fn known_codes(tx: &mut dyn Tx, org: &str, keys: &[String]) -> Result<std::collections::HashMap<String, String>> {
    let mut out = std::collections::HashMap::with_capacity(keys.len());
    for chunk in keys.chunks(crate::db::rows_per_statement(tx)) {
        let mut args = vec![org.to_value()];
        args.extend(chunk.iter().map(|k| k.to_value()));
        let sql = match tx.backend() {
            Backend::Sqlite => {
                format!("SELECT person_key, code FROM codes WHERE org_id = ?1 AND person_key IN ({})", placeholders(2, chunk.len()))
            }
            // One primary-key probe per key, whatever the statistics say. With `IN (…)` and
            // statistics from before a bulk load, PostgreSQL scanned all the org's codes through
            // the (org_id, code) index instead: 45 ms for 500 keys at 100 k codes, against 10 ms.
            Backend::Postgres => format!(
                "SELECT k.person_key, (SELECT c.code FROM codes c WHERE c.org_id = ?1 AND c.person_key = k.person_key)
                 FROM (VALUES {}) AS k(person_key)",
                value_rows(2, chunk.len(), 1)
            ),
        };
        for r in tx.query(&sql, &args)? {
            if let Some(code) = r.get::<Option<String>>(1)? {
                out.insert(r.get(0)?, code);
            }
        }
    }
    Ok(out)
}

/// `org`'s codes for these persons, minting each missing one. Two statements per batch: read
/// the known codes, mint the missing ones in one insert that returns what it wrote. Keys it did
/// not write were minted meanwhile by a concurrent request (the first insert wins); only those
/// are read back. Keys are inserted in sorted order, so concurrent batches lock rows in the same
/// order and cannot deadlock.
pub(super) fn codes_in(tx: &mut dyn Tx, org: &str, person_keys: &[String]) -> Result<std::collections::HashMap<String, String>> {
    let mut known = known_codes(tx, org, person_keys)?;
    let mut missing: Vec<&String> = person_keys.iter().filter(|k| !known.contains_key(*k)).collect();
    missing.sort();
    missing.dedup();
    for chunk in missing.chunks(crate::db::rows_per_statement(tx)) {
        let mut values = Vec::with_capacity(chunk.len() * 4);
        for k in chunk {
            values.extend([org.to_value(), (*k).to_value(), mint_code().to_string().to_value(), now_unix().to_value()]);
        }
        let written = tx.query(
            &format!(
                "INSERT INTO codes (org_id, person_key, code, created_at) VALUES {}
                 ON CONFLICT (org_id, person_key) DO NOTHING RETURNING person_key, code",
                value_rows(1, chunk.len(), 4)
            ),
            &values,
        )?;
        for r in written {
            known.insert(r.get(0)?, r.get(1)?);
        }
        let lost: Vec<String> = chunk.iter().filter(|k| !known.contains_key(**k)).map(|k| (*k).clone()).collect();
        if !lost.is_empty() {
            known.extend(known_codes(tx, org, &lost)?);
        }
    }
    Ok(known)
}

impl HubStore {
    /// `org`'s codes for these persons (keyed hashes), minting each missing one, in one transaction.
    pub async fn codes_for(&self, org: &OrgId, person_keys: Vec<String>) -> Result<Vec<OrgCode>> {
        let org = org.to_string();
        let codes: Vec<String> = self
            .tx(move |tx| {
                crate::db::plan_for_growing_tables(tx)?;
                let known = codes_in(tx, &org, &person_keys)?;
                person_keys.iter().map(|k| known.get(k).cloned().ok_or_else(|| corrupt("a code was not minted"))).collect()
            })
            .await?;
        codes.iter().map(|c| OrgCode::parse(c).map_err(corrupt)).collect()
    }

    /// Each sibling's codes for the persons `org` knows by `codes` (in order), minting each
    /// missing one, in one transaction: `None` where `org` has no such code. How a municipality's
    /// orgs registered one at a time come to share one person registry (団体内統合宛名番号)
    /// without the Individual Numbers, which they no longer hold.
    pub async fn sibling_codes(&self, org: &OrgId, codes: Vec<OrgCode>, siblings: Vec<OrgId>) -> Result<Vec<Vec<Option<OrgCode>>>> {
        let org = org.to_string();
        let found: Vec<Vec<Option<String>>> = self
            .tx(move |tx| {
                crate::db::plan_for_growing_tables(tx)?;
                let mut keys = std::collections::HashMap::with_capacity(codes.len());
                for chunk in codes.chunks(crate::db::rows_per_statement(tx)) {
                    let mut args = vec![org.to_value()];
                    args.extend(chunk.iter().map(|c| c.as_str().to_value()));
                    let sql =
                        format!("SELECT code, person_key FROM codes WHERE org_id = ?1 AND code IN ({})", placeholders(2, chunk.len()));
                    for r in tx.query(&sql, &args)? {
                        keys.insert(r.get::<String>(0)?, r.get::<String>(1)?);
                    }
                }
                let person_keys: Vec<String> = codes.iter().filter_map(|c| keys.get(c.as_str()).cloned()).collect();
                let mut out = Vec::with_capacity(siblings.len());
                for sibling in &siblings {
                    let theirs = codes_in(tx, sibling.as_str(), &person_keys)?;
                    out.push(codes.iter().map(|c| keys.get(c.as_str()).and_then(|k| theirs.get(k).cloned())).collect());
                }
                Ok(out)
            })
            .await?;
        found.into_iter().map(|of| of.into_iter().map(|c| c.map(|c| OrgCode::parse(&c).map_err(corrupt)).transpose()).collect()).collect()
    }
}
