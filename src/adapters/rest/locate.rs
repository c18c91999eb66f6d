//! Finding the records of a page without building a JSON tree: one validating pass
//! over the body that follows `result_body_path` (traversing intermediate lists, like
//! the tree walk does) and yields the byte range of each record. The writer then
//! flattens each record straight from its text.

use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde_json::value::RawValue;
use std::ops::Range;

/// The byte range of every non-null record at `path` in `body`, or `None` when the
/// body does not have the path.
pub fn records(
    body: &[u8],
    path: &[String],
) -> Result<Option<Vec<Range<usize>>>, serde_json::Error> {
    let mut found = false;
    let mut raws: Vec<&RawValue> = Vec::new();
    let mut de = serde_json::Deserializer::from_slice(body);
    Locate {
        path,
        depth: 0,
        out: &mut raws,
        found: &mut found,
    }
    .deserialize(&mut de)?;
    de.end()?;
    if !found {
        return Ok(None);
    }
    let base = body.as_ptr() as usize;
    Ok(Some(
        raws.into_iter()
            .map(|r| {
                let start = r.get().as_ptr() as usize - base;
                start..start + r.get().len()
            })
            .collect(),
    ))
}

struct Locate<'p, 'o, 'de> {
    path: &'p [String],
    depth: usize,
    out: &'o mut Vec<&'de RawValue>,
    found: &'o mut bool,
}

impl<'de> DeserializeSeed<'de> for Locate<'_, '_, 'de> {
    type Value = ();
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        if self.depth == self.path.len() {
            // The records node: a list of records, one record, or null.
            let raw: &'de RawValue = serde::Deserialize::deserialize(d)?;
            *self.found = true;
            let text = raw.get();
            match text.as_bytes().first() {
                Some(b'[') => {
                    let items: Vec<&'de RawValue> =
                        serde_json::from_str(text).map_err(serde::de::Error::custom)?;
                    self.out
                        .extend(items.into_iter().filter(|r| r.get() != "null"));
                }
                Some(b'n') => {}
                _ => self.out.push(raw),
            }
            return Ok(());
        }
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Locate<'_, '_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let want = &self.path[self.depth];
        while let Some(hit) = map.next_key_seed(KeyIs(want))? {
            if hit {
                map.next_value_seed(Locate {
                    path: self.path,
                    depth: self.depth + 1,
                    out: &mut *self.out,
                    found: &mut *self.found,
                })?;
            } else {
                map.next_value::<IgnoredAny>()?;
            }
        }
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        // An intermediate list: look for the path in each element.
        while seq
            .next_element_seed(Locate {
                path: self.path,
                depth: self.depth,
                out: &mut *self.out,
                found: &mut *self.found,
            })?
            .is_some()
        {}
        Ok(())
    }
    fn visit_bool<E>(self, _: bool) -> Result<(), E> {
        Ok(())
    }
    fn visit_i64<E>(self, _: i64) -> Result<(), E> {
        Ok(())
    }
    fn visit_u64<E>(self, _: u64) -> Result<(), E> {
        Ok(())
    }
    fn visit_f64<E>(self, _: f64) -> Result<(), E> {
        Ok(())
    }
    fn visit_str<E>(self, _: &str) -> Result<(), E> {
        Ok(())
    }
    fn visit_unit<E>(self) -> Result<(), E> {
        Ok(())
    }
}

/// Compares an object key with the wanted path segment, without allocating.
struct KeyIs<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for KeyIs<'_> {
    type Value = bool;
    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<bool, D::Error> {
        d.deserialize_str(self)
    }
}

impl Visitor<'_> for KeyIs<'_> {
    type Value = bool;
    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object key")
    }
    fn visit_str<E>(self, key: &str) -> Result<bool, E> {
        Ok(key == self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(body: &str, path: &[&str]) -> Option<Vec<String>> {
        let path: Vec<String> = path.iter().map(|s| s.to_string()).collect();
        records(body.as_bytes(), &path)
            .unwrap()
            .map(|ranges| ranges.into_iter().map(|r| body[r].to_string()).collect())
    }

    #[test]
    fn finds_records_at_paths_and_through_lists() {
        assert_eq!(
            texts(r#"[{"a":1}, null, {"a":2}]"#, &[]).unwrap(),
            [r#"{"a":1}"#, r#"{"a":2}"#]
        );
        assert_eq!(texts(r#"{"a": 1}"#, &[]).unwrap(), [r#"{"a": 1}"#]);
        assert_eq!(
            texts(
                r#"{"meta": {"x": [1]}, "data": {"items": [{"id": "a\"b"}]}}"#,
                &["data", "items"]
            )
            .unwrap(),
            [r#"{"id": "a\"b"}"#]
        );
        assert_eq!(
            texts(
                r#"{"r": [{"g": [{"k": 1}]}, {"g": [{"k": 2}, {"k": 3}]}]}"#,
                &["r", "g"]
            )
            .unwrap(),
            [r#"{"k": 1}"#, r#"{"k": 2}"#, r#"{"k": 3}"#]
        );
        assert_eq!(
            texts(r#"{"issues": null}"#, &["issues"]).unwrap(),
            Vec::<String>::new()
        );
        assert_eq!(texts(r#"{"errors": ["x"]}"#, &["issues"]), None);
        assert!(records(b"{\"a\": [1,", &[]).is_err());
    }
}
