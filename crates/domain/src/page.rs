//! Cursor pagination of lists (records, queries): a page holds at most [`MAX_LIMIT`] items,
//! [`DEFAULT_LIMIT`] unless asked, and the next page starts after the cursor the last one gave
//! (`next`), so a list seven years long is read a page at a time and rows added meanwhile are
//! neither skipped nor repeated.

/// Items a page holds unless the caller asks for another number.
pub const DEFAULT_LIMIT: usize = 100;
/// The most items one page holds.
pub const MAX_LIMIT: usize = 1000;

/// Why a page cannot be served. Never repeats the value.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PageError {
    #[error("limit is 1–{MAX_LIMIT}")]
    Limit,
    #[error("after must be the `next` cursor of a previous page")]
    Cursor,
}

/// How many items a page holds: `limit` if given and 1–[`MAX_LIMIT`].
pub fn limit(asked: Option<usize>) -> Result<usize, PageError> {
    match asked {
        None => Ok(DEFAULT_LIMIT),
        Some(n) if (1..=MAX_LIMIT).contains(&n) => Ok(n),
        Some(_) => Err(PageError::Limit),
    }
}

/// A cursor that is a sequence number (linkage records): decimal digits.
pub fn seq_cursor(after: Option<&str>) -> Result<Option<i64>, PageError> {
    after
        .map(|a| {
            if a.len() <= 18 && !a.is_empty() && a.bytes().all(|b| b.is_ascii_digit()) {
                a.parse().map_err(|_| PageError::Cursor)
            } else {
                Err(PageError::Cursor)
            }
        })
        .transpose()
}

/// A cursor that is a row id (queries: time-ordered UUIDs, lower-case hex and `-`).
pub fn id_cursor(after: Option<&str>) -> Result<Option<String>, PageError> {
    after
        .map(|a| {
            if a.len() == 36 && a.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b) || b == b'-') {
                Ok(a.to_owned())
            } else {
                Err(PageError::Cursor)
            }
        })
        .transpose()
}

/// The cursor of the page after one that returned `got` items ending at `last`: none when the
/// page was not full, since nothing follows.
pub fn next<T>(got: usize, limit: usize, last: Option<T>) -> Option<T> {
    if got < limit { None } else { last }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_are_1_to_the_maximum_and_cursors_are_what_a_page_gave() {
        assert_eq!(limit(None), Ok(DEFAULT_LIMIT));
        assert_eq!(limit(Some(1)), Ok(1));
        assert_eq!(limit(Some(MAX_LIMIT)), Ok(MAX_LIMIT));
        assert_eq!(limit(Some(0)), Err(PageError::Limit));
        assert_eq!(limit(Some(MAX_LIMIT + 1)), Err(PageError::Limit));
        assert_eq!(seq_cursor(Some("42")), Ok(Some(42)));
        assert_eq!(seq_cursor(None), Ok(None));
        for bad in ["", "-1", "4x", "9999999999999999999999"] {
            assert_eq!(seq_cursor(Some(bad)), Err(PageError::Cursor), "{bad}");
        }
        assert!(id_cursor(Some("0192f0c4-7b1e-7c3a-9d2e-1a2b3c4d5e6f")).unwrap().is_some());
        assert_eq!(id_cursor(Some("' OR 1=1 --")), Err(PageError::Cursor));
        assert_eq!(next(2, 2, Some(7)), Some(7));
        assert_eq!(next(1, 2, Some(7)), None);
    }
}
