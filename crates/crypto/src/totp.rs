//! The second factor: TOTP (RFC 6238: HMAC-SHA1, 6 digits, 30-second steps, one step of clock
//! skew either way), enrolled by scanning an `otpauth://` URI, shown as a QR code in SVG.
//! [`Totp::check`] returns the step a code belongs to: the caller keeps the last step used and
//! refuses a code of that step or an earlier one, so a code cannot be used twice.

use crate::CryptoError;
use zeroize::Zeroizing;

/// What TOTP secrets are sealed under (`MasterKey::seal_secret`).
const SEAL_PURPOSE: &str = "totp-secret";

/// Who issues the codes, as an authenticator app shows it.
pub const ISSUER: &str = "renkei";

/// A TOTP secret (160 bits, as RFC 4226 recommends) with the account it is for.
pub struct Totp(totp_rs::Totp);

impl Totp {
    /// A fresh random secret for `account`.
    pub fn generate(account: &str) -> Result<Self, CryptoError> {
        Self::from_secret(&crate::random_bytes::<20>(), account)
    }

    /// The secret as stored (to be kept encrypted).
    pub fn from_secret(secret: &[u8], account: &str) -> Result<Self, CryptoError> {
        totp_rs::Builder::new()
            .with_secret(secret.to_vec())
            .with_account_name(account)
            .with_issuer(Some(ISSUER))
            .build()
            .map(Self)
            .map_err(|_| CryptoError::BadKey("TOTP secret"))
    }

    /// The secret an `otpauth://` URI carries (what an authenticator app reads from the QR code).
    pub fn from_uri(uri: &str) -> Result<Self, CryptoError> {
        totp_rs::Totp::from_url(uri).map(Self).map_err(|_| CryptoError::BadKey("otpauth URI"))
    }

    pub fn secret(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.0.secret().as_bytes().to_vec())
    }

    /// The `otpauth://totp/…` URI an authenticator app enrols from. It holds the secret: show it
    /// once, to its owner.
    pub fn uri(&self) -> Result<Zeroizing<String>, CryptoError> {
        self.0.to_url().map(Zeroizing::new).map_err(|_| CryptoError::BadKey("TOTP URI"))
    }

    /// [`Totp::uri`] as a QR code, an SVG document.
    pub fn qr_svg(&self) -> Result<Zeroizing<String>, CryptoError> {
        let uri = self.uri()?;
        let code = qrcode::QrCode::new(uri.as_bytes()).map_err(|_| CryptoError::BadKey("TOTP QR code"))?;
        Ok(Zeroizing::new(code.render::<qrcode::render::svg::Color>().min_dimensions(200, 200).build()))
    }

    /// The step (30-second window since the epoch) whose code `code` is, at Unix time `now`;
    /// `None` for a wrong or malformed code.
    pub fn check(&self, code: &str, now: u64) -> Option<u64> {
        if code.len() != 6 || !code.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        self.0.check(code, now)
    }

    /// The secret sealed under the master key for the account with the id `account_id` (to
    /// store), bound to that id.
    pub fn seal(&self, master: &crate::datakey::MasterKey, account_id: &str) -> Result<Vec<u8>, CryptoError> {
        master.seal_secret(SEAL_PURPOSE, account_id, &self.secret())
    }

    /// The secret [`Totp::seal`] sealed for `account_id`, of the account named `account`.
    pub fn unseal(master: &crate::datakey::MasterKey, account_id: &str, sealed: &[u8], account: &str) -> Result<Self, CryptoError> {
        Self::from_secret(&master.open_secret(SEAL_PURPOSE, account_id, sealed)?, account)
    }

    /// The code of Unix time `now` (for tests and the demo's own sign-ins).
    pub fn code(&self, now: u64) -> String {
        self.0.generate(now).to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B, SHA-1 (8-digit codes there; their last six digits here).
    #[test]
    fn codes_are_those_of_rfc_6238() {
        let t = Totp::from_secret(b"12345678901234567890", "test").unwrap();
        for (time, code) in [(59, "287082"), (1_111_111_109, "081804"), (1_234_567_890, "005924"), (2_000_000_000, "279037")] {
            assert_eq!(t.code(time), code, "{time}");
            assert_eq!(t.check(code, time), Some(time / 30));
        }
    }

    #[test]
    fn a_code_is_accepted_one_step_either_way_and_not_beyond() {
        let t = Totp::generate("tanaka").unwrap();
        let now = 1_800_000_000;
        let code = t.code(now);
        assert_eq!(t.check(&code, now + 30), Some(now / 30));
        assert_eq!(t.check(&code, now - 30), Some(now / 30));
        assert_eq!(t.check(&code, now + 90), None);
        for bad in ["", "12345", "1234567", "abcdef", "１２３４５６"] {
            assert_eq!(t.check(bad, now), None, "{bad}");
        }
    }

    #[test]
    fn enrolment_gives_an_otpauth_uri_and_its_qr_code_as_svg() {
        let t = Totp::generate("tanaka").unwrap();
        let uri = t.uri().unwrap();
        assert!(uri.starts_with("otpauth://totp/renkei:tanaka?secret="), "{}", &*uri);
        let svg = t.qr_svg().unwrap();
        assert!(svg.contains("<svg") && svg.contains("</svg>"));
        let again = Totp::from_secret(&t.secret(), "tanaka").unwrap();
        assert_eq!(Totp::from_uri(&uri).unwrap().code(1_800_000_000), t.code(1_800_000_000));
        assert_eq!(again.code(1_800_000_000), t.code(1_800_000_000));
        let master = crate::datakey::MasterKey::generate();
        let sealed = t.seal(&master, "id-1").unwrap();
        assert_eq!(Totp::unseal(&master, "id-1", &sealed, "tanaka").unwrap().code(1_800_000_000), t.code(1_800_000_000));
        assert!(Totp::unseal(&master, "id-2", &sealed, "tanaka").is_err(), "bound to its account");
    }
}
