//! Resident tokens for the disclosure page (by hash, with an expiry).

use super::*;

impl HubStore {
    pub async fn add_resident_token(&self, token_hash: &str, person_key: &str, expires_at: i64) -> Result<()> {
        let (th, pk) = (token_hash.to_owned(), person_key.to_owned());
        self.tx(move |tx| {
            tx.execute("DELETE FROM resident_tokens WHERE expires_at < ?1", args![now_unix()])?;
            tx.execute("INSERT INTO resident_tokens (token_hash, person_key, expires_at) VALUES (?1, ?2, ?3)", args![th, pk, expires_at])?;
            Ok(())
        })
        .await
    }

    /// The person a live resident token stands for.
    pub async fn token_person(&self, token_hash: &str) -> Result<Option<String>> {
        let th = token_hash.to_owned();
        self.read(move |tx| {
            tx.query_opt("SELECT person_key FROM resident_tokens WHERE token_hash = ?1 AND expires_at >= ?2", args![th, now_unix()])?
                .map(|r| r.get(0))
                .transpose()
        })
        .await
    }
}
