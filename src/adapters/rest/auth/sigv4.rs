//! AWS Signature Version 4: the canonical request, the string to sign and the derived
//! signing key, as AWS's SDKs compute them (tested against AWS's published vectors).
//! The signer rewrites the request's query (and an S3 path) to the encoding it signed,
//! so what is sent is exactly what is signed.

use hmac::{Hmac, Mac};
use reqwest::header::{HeaderName, AUTHORIZATION};
use sha2::{Digest, Sha256};

use super::{set_header, AuthError};

type HmacSha256 = Hmac<Sha256>;

fn hmac_sha256(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC-SHA256 accepts keys of any length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

pub(super) fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// URI-encode per AWS rules: every byte except `A-Z a-z 0-9 - _ . ~` becomes `%XX`
/// (uppercase hex); `/` is encoded too, so callers encode one path segment at a time.
fn aws_encode(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    for &b in bytes {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

/// The canonical URI of an (already percent-encoded) URL path.
///
/// S3: each segment is decoded and encoded once, with no normalisation. Every other
/// service: the path is normalised (empty, `.` and `..` segments removed) and each
/// segment of the encoded path is encoded again, as AWS's SDKs do.
pub(super) fn canonical_uri(path: &str, service: &str) -> String {
    if service.eq_ignore_ascii_case("s3") {
        let encoded: Vec<String> = path
            .split('/')
            .map(|segment| aws_encode(&urlencoding::decode_binary(segment.as_bytes())))
            .collect();
        let joined = encoded.join("/");
        return if joined.starts_with('/') {
            joined
        } else {
            format!("/{joined}")
        };
    }
    let mut segments: Vec<&str> = Vec::new();
    for segment in path.split('/') {
        match segment {
            "" | "." => {}
            ".." => {
                segments.pop();
            }
            s => segments.push(s),
        }
    }
    let mut out = String::from("/");
    out.push_str(
        &segments
            .iter()
            .map(|s| aws_encode(s.as_bytes()))
            .collect::<Vec<_>>()
            .join("/"),
    );
    if path.ends_with('/') && !segments.is_empty() {
        out.push('/');
    }
    out
}

/// Query pairs, each decoded (`+` as space) and re-encoded per AWS rules, in URL order.
pub(super) fn aws_query_pairs(query: &str) -> Vec<(String, String)> {
    let component =
        |s: &str| aws_encode(&urlencoding::decode_binary(s.replace('+', " ").as_bytes()));
    query
        .split('&')
        .filter(|pair| !pair.is_empty())
        .map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (component(key), component(value))
        })
        .collect()
}

/// Header value canonical form: trimmed, runs of spaces collapsed to one.
fn canonical_header_value(value: &[u8]) -> String {
    String::from_utf8_lossy(value)
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
}

/// Everything computed while signing, kept for tests.
#[cfg_attr(not(test), allow(dead_code))]
pub(super) struct SigV4Parts {
    pub(super) canonical_request: String,
    pub(super) signed_headers: String,
    pub(super) authorization: String,
}

/// Sign `request` with AWS Signature Version 4 at time `now`.
///
/// The request must be fully built: method, final URL, headers and a buffered body. The
/// query is rewritten to AWS's encoding (same parameter order; `+` is read as a space), and
/// for S3 so is the path, so what is sent is exactly what is signed. Signs `host`,
/// `x-amz-date`, `x-amz-security-token` (when a session token is given),
/// `x-amz-content-sha256` (service `s3`), any other `x-amz-*` header present and
/// `content-type` when present. Sets `x-amz-date`, the session token and
/// `x-amz-content-sha256` headers as applicable, and `Authorization`.
pub fn sigv4_sign(
    request: &mut reqwest::Request,
    access_key: &str,
    secret_key: &str,
    session_token: Option<&str>,
    region: &str,
    service: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<(), AuthError> {
    sigv4_parts(
        request,
        access_key,
        secret_key,
        session_token,
        region,
        service,
        now,
    )
    .map(|_| ())
}

/// [`sigv4_sign`], returning what it computed.
pub(super) fn sigv4_parts(
    request: &mut reqwest::Request,
    access_key: &str,
    secret_key: &str,
    session_token: Option<&str>,
    region: &str,
    service: &str,
    now: chrono::DateTime<chrono::Utc>,
) -> Result<SigV4Parts, AuthError> {
    let is_s3 = service.eq_ignore_ascii_case("s3");
    let amz_date = now.format("%Y%m%dT%H%M%SZ").to_string();
    let date_stamp = now.format("%Y%m%d").to_string();
    let payload_hash = payload_hash(request, is_s3)?;
    let host = host(request)?;
    let (canonical_path, canonical_query) = canonical_target(request, service, is_s3);
    set_amz_headers(
        request,
        &amz_date,
        session_token,
        is_s3.then_some(&payload_hash),
    )?;
    let (signed_headers, header_block) = canonical_headers(request, host);

    let canonical_request = format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        request.method().as_str(),
        canonical_path,
        canonical_query,
        header_block,
        signed_headers,
        payload_hash
    );
    let scope = format!("{date_stamp}/{region}/{service}/aws4_request");
    let string_to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical_request.as_bytes())
    );
    let signing_key = signing_key(secret_key, &date_stamp, region, service);
    let signature = hex::encode(hmac_sha256(&signing_key, string_to_sign.as_bytes()));
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    );
    set_header(request.headers_mut(), AUTHORIZATION, &authorization, true)?;
    Ok(SigV4Parts {
        canonical_request,
        signed_headers,
        authorization,
    })
}

/// The hex SHA-256 of the body; S3 accepts an unsigned streaming body, others do not.
fn payload_hash(request: &reqwest::Request, is_s3: bool) -> Result<String, AuthError> {
    Ok(match request.body() {
        None => sha256_hex(b""),
        Some(body) => match body.as_bytes() {
            Some(bytes) => sha256_hex(bytes),
            None if is_s3 => "UNSIGNED-PAYLOAD".to_string(),
            None => {
                return Err(AuthError::Signing(
                    "a streaming request body cannot be signed; buffer it first".into(),
                ))
            }
        },
    })
}

/// The host, as hyper will send it unless the request already carries one.
fn host(request: &reqwest::Request) -> Result<String, AuthError> {
    Ok(match request.headers().get(reqwest::header::HOST) {
        Some(value) => canonical_header_value(value.as_bytes()),
        None => {
            let url = request.url();
            let host = url
                .host_str()
                .ok_or_else(|| AuthError::Signing(format!("URL {url} has no host")))?;
            match url.port() {
                Some(port) => format!("{host}:{port}"),
                None => host.to_string(),
            }
        }
    })
}

/// The canonical path and query. Rewrites the request's query to AWS encoding (same
/// order; the sorted form is signed) and, for S3, its path to the form signed.
fn canonical_target(
    request: &mut reqwest::Request,
    service: &str,
    is_s3: bool,
) -> (String, String) {
    let mut pairs = aws_query_pairs(request.url().query().unwrap_or(""));
    let wire_query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    request
        .url_mut()
        .set_query((!wire_query.is_empty()).then_some(wire_query.as_str()));
    pairs.sort();
    let canonical_query = pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&");
    let canonical_path = canonical_uri(request.url().path(), service);
    if is_s3 {
        // S3 signs the path as encoded once; send exactly that form.
        request.url_mut().set_path(&canonical_path);
    }
    (canonical_path, canonical_query)
}

/// Set the headers the signature covers: `x-amz-date`, the session token (or none), and
/// for S3 `x-amz-content-sha256`. Any old `Authorization` goes.
fn set_amz_headers(
    request: &mut reqwest::Request,
    amz_date: &str,
    session_token: Option<&str>,
    s3_payload_hash: Option<&String>,
) -> Result<(), AuthError> {
    let headers = request.headers_mut();
    headers.remove(AUTHORIZATION);
    set_header(
        headers,
        HeaderName::from_static("x-amz-date"),
        amz_date,
        false,
    )?;
    let security_token = HeaderName::from_static("x-amz-security-token");
    match session_token {
        Some(token) => set_header(headers, security_token, token, true)?,
        None => {
            headers.remove(security_token);
        }
    }
    if let Some(payload_hash) = s3_payload_hash {
        set_header(
            headers,
            HeaderName::from_static("x-amz-content-sha256"),
            payload_hash,
            false,
        )?;
    }
    Ok(())
}

/// The signed header names (`a;b;c`) and the canonical header block: `host`,
/// `content-type` and every `x-amz-*` header, sorted.
fn canonical_headers(request: &reqwest::Request, host: String) -> (String, String) {
    let headers = request.headers();
    let mut canonical_headers: Vec<(String, String)> = vec![("host".to_string(), host)];
    for name in headers.keys() {
        let name_str = name.as_str();
        if name_str == "content-type" || name_str.starts_with("x-amz-") {
            let values: Vec<String> = headers
                .get_all(name)
                .iter()
                .map(|v| canonical_header_value(v.as_bytes()))
                .collect();
            canonical_headers.push((name_str.to_string(), values.join(",")));
        }
    }
    canonical_headers.sort();
    let signed_headers = canonical_headers
        .iter()
        .map(|(name, _)| name.as_str())
        .collect::<Vec<_>>()
        .join(";");
    let header_block: String = canonical_headers
        .iter()
        .map(|(name, value)| format!("{name}:{value}\n"))
        .collect();
    (signed_headers, header_block)
}

/// The signing key derived from the secret key, date, region and service.
fn signing_key(secret_key: &str, date_stamp: &str, region: &str, service: &str) -> Vec<u8> {
    let k_date = hmac_sha256(
        format!("AWS4{secret_key}").as_bytes(),
        date_stamp.as_bytes(),
    );
    let k_region = hmac_sha256(&k_date, region.as_bytes());
    let k_service = hmac_sha256(&k_region, service.as_bytes());
    hmac_sha256(&k_service, b"aws4_request")
}
