//! A spool: bytes written to a scratch file encrypted under a key that lives only in memory, to
//! be read back once. A bulk upload is spooled before it is loaded, so that a client trickling
//! its file in never holds its tenant's database (the load's transaction starts once the whole
//! file is here); the persons files it holds carry Individual Numbers, which must never be on
//! disk in the clear, and the key dies with the upload, so a crash leaves only ciphertext nobody
//! can open.
//!
//! Format: records of `[length u32 LE][last u8][AES-256-GCM ciphertext and tag]`, each
//! encrypting at most [`CHUNK`] bytes with the record's number as nonce (a key encrypts one spool
//! only) and its `last` flag as associated data: a spool cut short, reordered, altered or
//! extended does not read back.

use aes_gcm::aead::{AeadInPlace, KeyInit};
use aes_gcm::{Aes256Gcm, Nonce};
use std::io::{self, Read, Seek, Write};
use zeroize::Zeroizing;

/// Plaintext bytes a record holds at most.
pub const CHUNK: usize = 64 << 10;

const TAG_LEN: usize = 16;

fn nonce(record: u64) -> Nonce<aes_gcm::aead::consts::U12> {
    let mut n = [0u8; 12];
    n[4..].copy_from_slice(&record.to_be_bytes());
    n.into()
}

fn broken(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, format!("the spooled upload does not read back: {what}"))
}

/// Writes a spool into `file` (a scratch file, e.g. `tempfile::tempfile()`).
pub struct SpoolWriter<F: Write + Read + Seek> {
    file: F,
    cipher: Aes256Gcm,
    plain: Zeroizing<Vec<u8>>,
    record: u64,
    len: u64,
}

impl<F: Write + Read + Seek> SpoolWriter<F> {
    /// A spool under a fresh random key.
    pub fn new(file: F) -> Self {
        let key = Zeroizing::new(rand::Rng::r#gen::<[u8; 32]>(&mut rand::rngs::OsRng));
        let cipher = Aes256Gcm::new((&*key).into());
        Self { file, cipher, plain: Zeroizing::new(Vec::with_capacity(CHUNK + TAG_LEN)), record: 0, len: 0 }
    }

    /// Plaintext bytes written so far.
    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends `data`.
    pub fn write(&mut self, mut data: &[u8]) -> io::Result<()> {
        self.len += data.len() as u64;
        while !data.is_empty() {
            let take = (CHUNK - self.plain.len()).min(data.len());
            self.plain.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.plain.len() == CHUNK {
                self.seal(false)?;
            }
        }
        Ok(())
    }

    fn seal(&mut self, last: bool) -> io::Result<()> {
        self.cipher.encrypt_in_place(&nonce(self.record), &[u8::from(last)], &mut *self.plain).map_err(|_| broken("encryption failed"))?;
        let len = u32::try_from(self.plain.len()).map_err(|_| broken("record too long"))?;
        self.file.write_all(&len.to_le_bytes())?;
        self.file.write_all(&[u8::from(last)])?;
        self.file.write_all(&self.plain)?;
        self.plain.clear();
        self.record += 1;
        Ok(())
    }

    /// Ends the spool and turns it into its reader, from the start.
    pub fn finish(mut self) -> io::Result<SpoolReader<F>> {
        self.seal(true)?;
        self.file.flush()?;
        self.file.rewind()?;
        Ok(SpoolReader { file: self.file, cipher: self.cipher, plain: self.plain, at: 0, record: 0, done: false })
    }
}

/// Reads a spool back, checking every record.
pub struct SpoolReader<F: Read> {
    file: F,
    cipher: Aes256Gcm,
    plain: Zeroizing<Vec<u8>>,
    at: usize,
    record: u64,
    done: bool,
}

impl<F: Read> SpoolReader<F> {
    /// Reads and opens the next record; false at the end.
    fn next_record(&mut self) -> io::Result<bool> {
        if self.done {
            return Ok(false);
        }
        let mut head = [0u8; 5];
        if let Err(e) = self.file.read_exact(&mut head) {
            return Err(if e.kind() == io::ErrorKind::UnexpectedEof { broken("it was cut short") } else { e });
        }
        let len = u32::from_le_bytes([head[0], head[1], head[2], head[3]]) as usize;
        let last = head[4];
        if len > CHUNK + TAG_LEN {
            return Err(broken("a record is too long"));
        }
        self.plain.clear();
        self.plain.resize(len, 0);
        self.file.read_exact(&mut self.plain).map_err(|_| broken("it was cut short"))?;
        if last > 1 {
            return Err(broken("a record was altered"));
        }
        self.cipher.decrypt_in_place(&nonce(self.record), &[last], &mut *self.plain).map_err(|_| broken("a record was altered"))?;
        self.record += 1;
        self.at = 0;
        if last == 1 {
            self.done = true;
            let mut more = [0u8; 1];
            if self.file.read(&mut more)? != 0 {
                return Err(broken("bytes follow its last record"));
            }
        }
        Ok(true)
    }
}

impl<F: Read> Read for SpoolReader<F> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.at == self.plain.len() {
            if !self.next_record()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.plain.len() - self.at);
        out[..n].copy_from_slice(&self.plain[self.at..self.at + n]);
        self.at += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Cursor;

    fn spool(data: &[u8], pieces: usize) -> Vec<u8> {
        let mut w = SpoolWriter::new(Cursor::new(Vec::new()));
        for piece in data.chunks(data.len().div_ceil(pieces).max(1)) {
            w.write(piece).unwrap();
        }
        w.finish().unwrap().file.into_inner()
    }

    fn read_back(data: &[u8], pieces: usize) -> Vec<u8> {
        let mut w = SpoolWriter::new(Cursor::new(Vec::new()));
        for piece in data.chunks(data.len().div_ceil(pieces).max(1)) {
            w.write(piece).unwrap();
        }
        assert_eq!(w.len(), data.len() as u64);
        let mut out = Vec::new();
        w.finish().unwrap().read_to_end(&mut out).unwrap();
        out
    }

    #[test]
    fn what_is_spooled_reads_back_whole_and_is_not_on_disk_in_the_clear() {
        let data: Vec<u8> = (0..3 * CHUNK + 17).map(|i| b"P1,123456789012\n"[i % 16]).collect();
        for pieces in [1, 7, 1000] {
            assert_eq!(read_back(&data, pieces), data);
        }
        assert_eq!(read_back(b"", 1), b"");
        let on_disk = spool(&data, 3);
        assert!(!on_disk.windows(12).any(|w| w == b"123456789012"), "the number is not in the file");
    }

    #[test]
    fn a_spool_cut_short_altered_or_extended_does_not_read_back() {
        let data = vec![7u8; 2 * CHUNK + 5];
        let on_disk = spool(&data, 1);
        let reader = |bytes: Vec<u8>| {
            let cipher = Aes256Gcm::new(&[0u8; 32].into());
            SpoolReader { file: Cursor::new(bytes), cipher, plain: Zeroizing::new(Vec::new()), at: 0, record: 0, done: false }
        };
        // Another key (the spool's own is gone): nothing opens.
        assert!(reader(on_disk.clone()).read_to_end(&mut Vec::new()).is_err());
        // With its own key: cut after the first record, a flipped byte, a byte appended.
        let with_own_key = |edit: &dyn Fn(&mut Vec<u8>)| {
            let mut w = SpoolWriter::new(Cursor::new(Vec::new()));
            w.write(&data).unwrap();
            let mut r = w.finish().unwrap();
            let mut bytes = std::mem::take(r.file.get_mut());
            edit(&mut bytes);
            r.file = Cursor::new(bytes);
            r.read_to_end(&mut Vec::new())
        };
        assert!(with_own_key(&|_| {}).is_ok());
        assert!(with_own_key(&|b| b.truncate(5 + CHUNK + TAG_LEN)).is_err(), "cut at a record's end");
        assert!(with_own_key(&|b| b[4] = 1).is_err(), "the first record passed off as the last");
        assert!(with_own_key(&|b| b[100] ^= 1).is_err(), "altered");
        assert!(with_own_key(&|b| b.push(0)).is_err(), "extended");
    }
}
