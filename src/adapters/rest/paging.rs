//! Pagers: given the previous page, what to request next — or stop.
//!
//! A [`Pager`] is a small state machine, fresh for each parameter set. It never loops
//! forever and never truncates silently: a cursor or next-URL seen before, a page that
//! repeats the previous one byte for byte, or more than `max_pages` pages is an error.

use crate::adapters::spec::{Paging, PagingStrategy, StopRule};
use serde_json::Value;
use std::collections::HashSet;

/// What the next request of a parameter set looks like.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PageRequest {
    /// Request the table's URL with these extra params: query parameters, or
    /// `${name}` in a POST body (page numbers, offsets and counts are JSON numbers,
    /// cursors strings).
    Params(Vec<(String, Value)>),
    /// Request this absolute URL as is (nextLink, linkHeader).
    Url(String),
}

/// What one fetched page looked like, as far as paging cares.
#[derive(Debug, Clone, Copy)]
pub struct PageFacts<'a> {
    /// Records extracted from the page.
    pub rows: usize,
    /// The parsed body.
    pub body: &'a serde_json::Value,
    /// The `Link` response header, if any.
    pub link_header: Option<&'a str>,
    /// A hash of the raw body, to spot an API that ignores the page parameter.
    pub body_hash: u64,
}

/// The pager gave up to avoid an endless loop or a silent truncation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PagingError {
    /// A cursor came back that was already used.
    #[error("the API returned the cursor '{cursor}' again after page {page}; stopping to avoid an endless loop")]
    RepeatedCursor {
        /// The cursor.
        cursor: String,
        /// Pages fetched so far.
        page: u64,
    },
    /// A next-URL came back that was already fetched.
    #[error("the API returned the next-page URL {url} again after page {page}; stopping to avoid an endless loop")]
    RepeatedUrl {
        /// The URL (secrets redacted by the caller).
        url: String,
        /// Pages fetched so far.
        page: u64,
    },
    /// Page N had exactly the same body as page N-1.
    #[error("page {page} is identical to page {prev}: the API seems to ignore '{param}'; stopping to avoid an endless loop")]
    RepeatedPage {
        /// This page number.
        page: u64,
        /// The previous page number.
        prev: u64,
        /// The parameter the API ignores.
        param: String,
    },
    /// The page cap was reached while the API still had more.
    #[error("stopped after {max} pages and the API still reports more; raise paging.max_pages in the spec if this table really is that large")]
    TooManyPages {
        /// The cap.
        max: u64,
    },
}

/// Paging state for one parameter set.
#[derive(Debug)]
pub struct Pager {
    paging: Option<Paging>,
    pages: u64,
    next_page: u64,
    offset: u64,
    seen: HashSet<String>,
    last_hash: Option<u64>,
}

impl Pager {
    /// A fresh pager (`None` = a single request).
    pub fn new(paging: Option<Paging>) -> Self {
        let next_page = match &paging {
            Some(Paging {
                strategy: PagingStrategy::PageAndCount { first_page, .. },
                ..
            }) => *first_page,
            _ => 1,
        };
        Pager {
            paging,
            pages: 0,
            next_page,
            offset: 0,
            seen: HashSet::new(),
            last_hash: None,
        }
    }

    /// Pages handled so far.
    pub fn pages(&self) -> u64 {
        self.pages
    }

    /// The params of the first request.
    pub fn first(&self) -> PageRequest {
        let Some(p) = &self.paging else {
            return PageRequest::Params(Vec::new());
        };
        let mut params = Vec::new();
        match &p.strategy {
            PagingStrategy::PageAndCount { page_param, .. } => {
                params.push((page_param.clone(), Value::from(self.next_page)));
            }
            PagingStrategy::OffsetAndCount { offset_param } => {
                params.push((offset_param.clone(), Value::from(0u64)));
            }
            _ => {}
        }
        push_count(&mut params, p);
        PageRequest::Params(params)
    }

    /// Params for numbered page `index` (0-based) of pages holding `size` rows — used
    /// to fetch pages concurrently when the total is known. `None` for cursor pagers.
    pub fn numbered(&self, index: u64, size: u64) -> Option<PageRequest> {
        let p = self.paging.as_ref()?;
        let mut params = Vec::new();
        match &p.strategy {
            PagingStrategy::PageAndCount {
                page_param,
                first_page,
            } => params.push((page_param.clone(), Value::from(first_page + index))),
            PagingStrategy::OffsetAndCount { offset_param } => {
                params.push((offset_param.clone(), Value::from(index * size)))
            }
            _ => return None,
        }
        push_count(&mut params, p);
        Some(PageRequest::Params(params))
    }

    /// The total record count a page reports (`total_path`).
    pub fn total(&self, body: &serde_json::Value) -> Option<u64> {
        let total = self.paging.as_ref()?.total_path.as_ref()?.first(body)?;
        total
            .as_u64()
            .or_else(|| total.as_str().and_then(|s| s.parse().ok()))
    }

    /// The number of pages and their size implied by the total reported on the first
    /// page, when the spec gives a `total_path` and a numbered pager. The size is what
    /// the API actually returned on a full first page, so an API that caps page sizes
    /// below `page_size` does not lose rows.
    pub fn plan(&self, body: &serde_json::Value, first_rows: u64) -> Option<(u64, u64)> {
        let p = self.paging.as_ref()?;
        let requested = p.page_size?;
        let size = if first_rows > 0 && first_rows < requested {
            first_rows
        } else {
            requested
        };
        if !matches!(
            p.strategy,
            PagingStrategy::PageAndCount { .. } | PagingStrategy::OffsetAndCount { .. }
        ) {
            return None;
        }
        let total = self.total(body)?;
        Some((total.div_ceil(size).min(p.max_pages), size))
    }

    /// Record a fetched page and decide what comes next (`None` = done).
    pub fn next(&mut self, facts: PageFacts<'_>) -> Result<Option<PageRequest>, PagingError> {
        self.pages += 1;
        let Some(p) = self.paging.clone() else {
            return Ok(None);
        };
        let prev_hash = self.last_hash.replace(facts.body_hash);
        let more = match &p.strategy {
            PagingStrategy::PageAndCount { page_param, .. } => {
                if !self.numbered_continues(&p, facts.rows) {
                    return Ok(None);
                }
                self.check_repeat(prev_hash, facts.body_hash, page_param)?;
                self.next_page += 1;
                let mut params = vec![(page_param.clone(), Value::from(self.next_page))];
                push_count(&mut params, &p);
                PageRequest::Params(params)
            }
            PagingStrategy::OffsetAndCount { offset_param } => {
                if !self.numbered_continues(&p, facts.rows) {
                    return Ok(None);
                }
                self.check_repeat(prev_hash, facts.body_hash, offset_param)?;
                self.offset += facts.rows as u64;
                let mut params = vec![(offset_param.clone(), Value::from(self.offset))];
                push_count(&mut params, &p);
                PageRequest::Params(params)
            }
            PagingStrategy::PagerToken {
                token_param,
                pager_token_path,
            } => {
                let Some(token) = pager_token_path.first_string(facts.body) else {
                    return Ok(None);
                };
                if !self.seen.insert(token.clone()) {
                    return Err(PagingError::RepeatedCursor {
                        cursor: token,
                        page: self.pages,
                    });
                }
                let mut params = vec![(token_param.clone(), Value::String(token))];
                push_count(&mut params, &p);
                PageRequest::Params(params)
            }
            PagingStrategy::NextLink { pager_link_path } => {
                let Some(url) = pager_link_path.first_string(facts.body) else {
                    return Ok(None);
                };
                self.follow(url)?
            }
            PagingStrategy::LinkHeader => {
                let Some(url) = facts.link_header.and_then(next_link) else {
                    return Ok(None);
                };
                self.follow(url)?
            }
        };
        if self.pages >= p.max_pages {
            return Err(PagingError::TooManyPages { max: p.max_pages });
        }
        Ok(Some(more))
    }

    /// Continue sequentially after `index` numbered pages of `size` rows were fetched
    /// out of band.
    pub fn resume_at(&mut self, index: u64, size: u64) {
        self.pages = index;
        if let Some(p) = &self.paging {
            if let PagingStrategy::PageAndCount { first_page, .. } = p.strategy {
                self.next_page = first_page + index;
            }
            self.offset = index * size;
        }
        self.last_hash = None;
    }

    /// Remember the URL a request went to (so a next-link pointing back at it is caught).
    pub fn saw_url(&mut self, url: &str) {
        self.seen.insert(url.to_string());
    }

    fn follow(&mut self, url: String) -> Result<PageRequest, PagingError> {
        if !self.seen.insert(url.clone()) {
            return Err(PagingError::RepeatedUrl {
                url: crate::secret::redact(&url),
                page: self.pages,
            });
        }
        Ok(PageRequest::Url(url))
    }

    fn numbered_continues(&self, p: &Paging, rows: usize) -> bool {
        if rows == 0 {
            return false;
        }
        match (p.stop, p.page_size) {
            (StopRule::ShortPage, Some(size)) => rows as u64 >= size,
            _ => true,
        }
    }

    fn check_repeat(&self, prev: Option<u64>, now: u64, param: &str) -> Result<(), PagingError> {
        if prev == Some(now) {
            return Err(PagingError::RepeatedPage {
                page: self.pages,
                prev: self.pages - 1,
                param: param.to_string(),
            });
        }
        Ok(())
    }
}

fn push_count(params: &mut Vec<(String, Value)>, p: &Paging) {
    if let (Some(name), Some(size)) = (&p.count_param, p.page_size) {
        params.push((name.clone(), Value::from(size)));
    }
}

/// The `rel="next"` target of an RFC 8288 `Link` header.
pub fn next_link(header: &str) -> Option<String> {
    for part in split_links(header) {
        let part = part.trim();
        let Some(end) = part.find('>') else { continue };
        let Some(url) = part.get(1..end).filter(|_| part.starts_with('<')) else {
            continue;
        };
        let params = &part[end + 1..];
        let is_next = params.split(';').any(|attr| {
            let attr = attr.trim();
            attr.strip_prefix("rel=").is_some_and(|v| {
                v.trim_matches('"')
                    .split_whitespace()
                    .any(|r| r.eq_ignore_ascii_case("next"))
            })
        });
        if is_next {
            return Some(url.to_string());
        }
    }
    None
}

/// Split a Link header on the commas between links (not those inside `<…>`).
fn split_links(header: &str) -> Vec<&str> {
    let mut parts = Vec::new();
    let mut depth = 0;
    let mut start = 0;
    for (i, c) in header.char_indices() {
        match c {
            '<' => depth += 1,
            '>' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&header[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&header[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::adapters::jsonpath::Path;
    use crate::adapters::spec::DEFAULT_MAX_PAGES;
    use serde_json::json;

    fn paging(strategy: PagingStrategy, count: Option<&str>, size: Option<u64>) -> Paging {
        Paging {
            strategy,
            page_size: size,
            count_param: count.map(str::to_string),
            stop: StopRule::ShortPage,
            max_pages: DEFAULT_MAX_PAGES,
            total_path: None,
        }
    }

    fn facts(rows: usize, body: &serde_json::Value, hash: u64) -> PageFacts<'_> {
        PageFacts {
            rows,
            body,
            link_header: None,
            body_hash: hash,
        }
    }

    /// Numbers become JSON numbers, other values strings.
    fn params(pairs: &[(&str, &str)]) -> Option<PageRequest> {
        Some(PageRequest::Params(
            pairs
                .iter()
                .map(|(k, v)| {
                    let value = v
                        .parse::<u64>()
                        .map(Value::from)
                        .unwrap_or_else(|_| Value::String(v.to_string()));
                    (k.to_string(), value)
                })
                .collect(),
        ))
    }

    #[test]
    fn page_and_count_stops_on_short_page() {
        let mut p = Pager::new(Some(paging(
            PagingStrategy::PageAndCount {
                page_param: "page".into(),
                first_page: 1,
            },
            Some("count"),
            Some(25),
        )));
        let body = json!([]);
        assert_eq!(Some(p.first()), params(&[("page", "1"), ("count", "25")]));
        assert_eq!(
            p.next(facts(25, &body, 1)).unwrap(),
            params(&[("page", "2"), ("count", "25")])
        );
        assert_eq!(
            p.next(facts(25, &body, 2)).unwrap(),
            params(&[("page", "3"), ("count", "25")])
        );
        assert_eq!(p.next(facts(24, &body, 3)).unwrap(), None);
    }

    #[test]
    fn offset_advances_by_rows_received() {
        let mut p = Pager::new(Some(paging(
            PagingStrategy::OffsetAndCount {
                offset_param: "start".into(),
            },
            Some("count"),
            Some(75),
        )));
        let body = json!([]);
        assert_eq!(Some(p.first()), params(&[("start", "0"), ("count", "75")]));
        assert_eq!(
            p.next(facts(75, &body, 1)).unwrap(),
            params(&[("start", "75"), ("count", "75")])
        );
        assert_eq!(
            p.next(facts(75, &body, 2)).unwrap(),
            params(&[("start", "150"), ("count", "75")])
        );
        assert_eq!(p.next(facts(74, &body, 3)).unwrap(), None);
    }

    #[test]
    fn token_pager_follows_token_not_page_length() {
        let mut p = Pager::new(Some(paging(
            PagingStrategy::PagerToken {
                token_param: "next".into(),
                pager_token_path: Path::parse("results[*].subd.nextPage").unwrap(),
            },
            Some("limit"),
            Some(25),
        )));
        assert_eq!(Some(p.first()), params(&[("limit", "25")]));
        let body = json!({"results": [{"subd": {"nextPage": "page2"}}]});
        assert_eq!(
            p.next(facts(3, &body, 1)).unwrap(),
            params(&[("next", "page2"), ("limit", "25")])
        );
        let body = json!({"results": [{"subd": {}}]});
        assert_eq!(p.next(facts(25, &body, 2)).unwrap(), None);
    }

    #[test]
    fn repeated_cursor_is_an_error() {
        let mut p = Pager::new(Some(paging(
            PagingStrategy::PagerToken {
                token_param: "after".into(),
                pager_token_path: Path::parse("next").unwrap(),
            },
            None,
            None,
        )));
        let body = json!({"next": "abc"});
        assert!(p.next(facts(1, &body, 1)).unwrap().is_some());
        let err = p.next(facts(1, &body, 2)).unwrap_err();
        assert_eq!(
            err.to_string(),
            "the API returned the cursor 'abc' again after page 2; stopping to avoid an endless loop"
        );
    }

    #[test]
    fn identical_numbered_pages_are_an_error() {
        let mut p = Pager::new(Some(paging(
            PagingStrategy::PageAndCount {
                page_param: "page".into(),
                first_page: 1,
            },
            Some("count"),
            Some(2),
        )));
        let body = json!([1, 2]);
        assert!(p.next(facts(2, &body, 7)).unwrap().is_some());
        assert!(matches!(
            p.next(facts(2, &body, 7)),
            Err(PagingError::RepeatedPage {
                page: 2,
                prev: 1,
                ..
            })
        ));
    }

    #[test]
    fn page_cap_is_an_error_not_a_truncation() {
        let mut pg = paging(
            PagingStrategy::PageAndCount {
                page_param: "page".into(),
                first_page: 1,
            },
            Some("count"),
            Some(1),
        );
        pg.max_pages = 3;
        let mut p = Pager::new(Some(pg));
        let body = json!([1]);
        assert!(p.next(facts(1, &body, 1)).unwrap().is_some());
        assert!(p.next(facts(1, &body, 2)).unwrap().is_some());
        assert_eq!(
            p.next(facts(1, &body, 3)).unwrap_err(),
            PagingError::TooManyPages { max: 3 }
        );
    }

    #[test]
    fn next_link_replaces_the_url_and_catches_repeats() {
        let mut p = Pager::new(Some(paging(
            PagingStrategy::NextLink {
                pager_link_path: Path::parse("results[*].subd.nextPage").unwrap(),
            },
            Some("limit"),
            Some(10),
        )));
        assert_eq!(Some(p.first()), params(&[("limit", "10")]));
        let body = json!({"results": [{"subd": {"nextPage": "http://example.com/page2"}}]});
        assert_eq!(
            p.next(facts(10, &body, 1)).unwrap(),
            Some(PageRequest::Url("http://example.com/page2".into()))
        );
        assert!(matches!(
            p.next(facts(10, &body, 2)),
            Err(PagingError::RepeatedUrl { .. })
        ));
    }

    #[test]
    fn link_header_parsing() {
        let h = r#"<https://api.github.com/x?page=2>; rel="next", <https://api.github.com/x?page=5>; rel="last""#;
        assert_eq!(
            next_link(h).as_deref(),
            Some("https://api.github.com/x?page=2")
        );
        assert_eq!(next_link(r#"<https://a/x?p=1,2>; rel="prev""#), None);
        assert_eq!(
            next_link(r#"<https://a/x?p=1,2>; rel="prev next""#).as_deref(),
            Some("https://a/x?p=1,2")
        );
    }

    #[test]
    fn total_gives_page_count() {
        let mut pg = paging(
            PagingStrategy::OffsetAndCount {
                offset_param: "startAt".into(),
            },
            Some("maxResults"),
            Some(100),
        );
        pg.total_path = Some(Path::parse("total").unwrap());
        let p = Pager::new(Some(pg));
        assert_eq!(p.plan(&json!({"total": 1027}), 100), Some((11, 100)));
        assert_eq!(
            p.numbered(3, 100),
            params(&[("startAt", "300"), ("maxResults", "100")])
        );
        // An API capping pages at 50 rows: twice the pages, offsets by 50.
        assert_eq!(p.plan(&json!({"total": 1027}), 50), Some((21, 50)));
        assert_eq!(
            p.numbered(3, 50),
            params(&[("startAt", "150"), ("maxResults", "100")])
        );
    }
}
