//! Pagination: every list returns a [`Page`] with an opaque token for the next one.

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The page size used when a request does not set one.
pub const DEFAULT_PAGE_SIZE: u32 = 50;
/// The largest page size any backend returns (SageMaker's `MaxResults` limit).
pub const MAX_PAGE_SIZE: u32 = 100;

/// Which page of a list to return.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[non_exhaustive]
pub struct PageRequest {
    /// Items per page, 1–[`MAX_PAGE_SIZE`]; `None` means [`DEFAULT_PAGE_SIZE`].
    pub page_size: Option<u32>,
    /// The `next_page_token` of the previous page; `None` for the first page.
    pub page_token: Option<String>,
}

impl PageRequest {
    /// The first page with the default size.
    pub fn first() -> Self {
        Self::default()
    }

    /// Sets the page size.
    pub fn with_page_size(mut self, size: u32) -> Self {
        self.page_size = Some(size);
        self
    }

    /// Sets the token of the page to fetch.
    pub fn with_token(mut self, token: impl Into<String>) -> Self {
        self.page_token = Some(token.into());
        self
    }

    /// The effective page size, or `InvalidArgument` when it is out of range.
    pub fn size(&self) -> Result<u32> {
        match self.page_size {
            None => Ok(DEFAULT_PAGE_SIZE),
            Some(n) if (1..=MAX_PAGE_SIZE).contains(&n) => Ok(n),
            Some(n) => Err(Error::invalid(format!(
                "page_size {n} is out of range: use 1 to {MAX_PAGE_SIZE}"
            ))),
        }
    }
}

/// One page of results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Page<T> {
    /// The items of this page, in a stable order.
    pub items: Vec<T>,
    /// Pass this as `page_token` to get the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

impl<T> Page<T> {
    /// A page with no successor.
    pub fn last(items: Vec<T>) -> Self {
        Self {
            items,
            next_page_token: None,
        }
    }

    /// Applies `f` to every item, keeping the token.
    pub fn map<U>(self, f: impl FnMut(T) -> U) -> Page<U> {
        Page {
            items: self.items.into_iter().map(f).collect(),
            next_page_token: self.next_page_token,
        }
    }
}

/// Encodes a keyset cursor (the sort key of the last item returned) as an opaque token.
///
/// Backends that page by key use this so tokens look alike everywhere; clients must treat them
/// as opaque.
pub fn encode_cursor(key: &str) -> String {
    key.bytes().map(|b| format!("{b:02x}")).collect()
}

/// Decodes a token made by [`encode_cursor`], rejecting anything else clearly.
pub fn decode_cursor(token: &str) -> Result<String> {
    let invalid = || {
        Error::invalid(format!(
            "page_token '{token}' is not a token this API issued"
        ))
    };
    // Work on bytes: slicing a str that holds multi-byte characters could split one.
    let raw = token.as_bytes();
    if raw.is_empty() || !raw.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let hex = |b: u8| (b as char).to_digit(16).ok_or_else(invalid);
    let bytes = raw
        .chunks_exact(2)
        .map(|pair| Ok((hex(pair[0])? * 16 + hex(pair[1])?) as u8))
        .collect::<Result<Vec<u8>>>()?;
    String::from_utf8(bytes).map_err(|_| invalid())
}

/// Pages through `items`, already sorted by `key`, for backends that hold lists in memory.
pub fn paginate_sorted<T>(
    items: Vec<T>,
    request: &PageRequest,
    key: impl Fn(&T) -> String,
) -> Result<Page<T>> {
    let size = request.size()? as usize;
    let after = request
        .page_token
        .as_deref()
        .map(decode_cursor)
        .transpose()?;
    let mut rest: Vec<T> = match after {
        Some(after) => items.into_iter().filter(|i| key(i) > after).collect(),
        None => items,
    };
    let next = if rest.len() > size {
        rest.truncate(size);
        rest.last().map(|i| encode_cursor(&key(i)))
    } else {
        None
    };
    Ok(Page {
        items: rest,
        next_page_token: next,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn size_defaults_and_bounds() {
        assert_eq!(PageRequest::first().size().unwrap(), DEFAULT_PAGE_SIZE);
        assert_eq!(
            PageRequest::first().with_page_size(100).size().unwrap(),
            100
        );
        for bad in [0, 101] {
            let err = PageRequest::first().with_page_size(bad).size().unwrap_err();
            assert!(err.to_string().contains("out of range"), "{err}");
        }
    }

    #[test]
    fn cursor_round_trips_and_rejects_garbage() {
        assert_eq!(
            decode_cursor(&encode_cursor("model-9/12")).unwrap(),
            "model-9/12"
        );
        for bad in ["", "abc", "zz", "ff", "éé", "aé", "+1"] {
            assert!(decode_cursor(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn paginate_returns_each_item_once() {
        let items: Vec<String> = (0..23).map(|i| format!("item-{i:02}")).collect();
        let mut seen = Vec::new();
        let mut request = PageRequest::first().with_page_size(5);
        loop {
            let page = paginate_sorted(items.clone(), &request, |s| s.clone()).unwrap();
            assert!(page.items.len() <= 5);
            seen.extend(page.items);
            match page.next_page_token {
                Some(t) => request = request.with_token(t),
                None => break,
            }
        }
        assert_eq!(seen, items);
    }
}
