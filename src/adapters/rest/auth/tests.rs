//! Tests of request authentication: simple credentials, SigV4 vectors, OAuth2 grants.

use super::sigv4::{aws_query_pairs, canonical_uri, sha256_hex, sigv4_parts, SigV4Parts};
use super::*;
use std::sync::Arc;
use std::time::Duration;
use wiremock::matchers::{body_string, header, method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

const AKID: &str = "AKIDEXAMPLE";
const AWS_SECRET: &str = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY";
const CLIENT_SECRET: &str = "s3cr3t-client-value";
const REFRESH: &str = "refresh-token-one";

fn get(url: &str) -> reqwest::Request {
    reqwest::Request::new(reqwest::Method::GET, url::Url::parse(url).unwrap())
}

fn auth_header(request: &reqwest::Request) -> String {
    request.headers()[AUTHORIZATION]
        .to_str()
        .unwrap()
        .to_string()
}

fn vector_time() -> chrono::DateTime<chrono::Utc> {
    chrono::DateTime::parse_from_rfc3339("2015-08-30T12:36:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc)
}

fn sign_vector(request: &mut reqwest::Request) -> SigV4Parts {
    sigv4_parts(
        request,
        AKID,
        AWS_SECRET,
        None,
        "us-east-1",
        "service",
        vector_time(),
    )
    .unwrap()
}

async fn apply(auth: &Authenticator, url: &str) -> Result<reqwest::Request, AuthError> {
    let mut request = get(url);
    auth.apply(&reqwest::Client::new(), &mut request).await?;
    Ok(request)
}

// ----- simple credentials ----------------------------------------------------------

#[tokio::test]
async fn basic_header_exact_value() {
    let auth = Authenticator::new(Credentials::Basic {
        username: Secret::new("scott@example.com"),
        password: Secret::new("abc123"),
    });
    let request = apply(&auth, "https://api.example.com/x").await.unwrap();
    assert_eq!(
        auth_header(&request),
        "Basic c2NvdHRAZXhhbXBsZS5jb206YWJjMTIz"
    );
    assert!(request.headers()[AUTHORIZATION].is_sensitive());
    assert!(auth
        .secrets()
        .contains(&"c2NvdHRAZXhhbXBsZS5jb206YWJjMTIz".to_string()));
}

#[tokio::test]
async fn bearer_header() {
    let auth = Authenticator::new(Credentials::Bearer {
        token: Secret::new("tok-123"),
    });
    let request = apply(&auth, "https://api.example.com/x").await.unwrap();
    assert_eq!(auth_header(&request), "Bearer tok-123");
    assert!(
        !auth.invalidate(),
        "retrying a static bearer token cannot help"
    );
    assert_eq!(auth.secrets(), vec!["tok-123".to_string()]);
}

#[tokio::test]
async fn custom_headers_are_set() {
    let auth = Authenticator::new(Credentials::Headers(vec![
        ("X-Api-Key".into(), Secret::new("key-1")),
        ("X-Tenant".into(), Secret::new("acme")),
    ]));
    let mut request = get("https://api.example.com/x");
    request
        .headers_mut()
        .insert("x-api-key", HeaderValue::from_static("old"));
    auth.apply(&reqwest::Client::new(), &mut request)
        .await
        .unwrap();
    assert_eq!(request.headers()["x-api-key"], "key-1");
    assert_eq!(request.headers().get_all("x-api-key").iter().count(), 1);
    assert_eq!(request.headers()["x-tenant"], "acme");
}

#[tokio::test]
async fn invalid_headers_are_errors_without_values() {
    let auth = Authenticator::new(Credentials::Headers(vec![(
        "bad header".into(),
        Secret::new("v"),
    )]));
    let err = apply(&auth, "https://api.example.com/").await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidHeaderName { .. }), "{err}");

    let auth = Authenticator::new(Credentials::Bearer {
        token: Secret::new("line\nbreak-secret"),
    });
    let err = apply(&auth, "https://api.example.com/").await.unwrap_err();
    assert!(matches!(err, AuthError::InvalidHeaderValue { .. }), "{err}");
    assert!(!err.to_string().contains("break-secret"));
}

#[tokio::test]
async fn params_are_appended_to_existing_query() {
    let auth = Authenticator::new(Credentials::Params(vec![
        ("api_key".into(), Secret::new("a b&c=d/é")),
        ("tenant".into(), Secret::new("acme")),
    ]));
    let request = apply(&auth, "https://api.example.com/v1/items?page=2&sort=name")
        .await
        .unwrap();
    assert_eq!(
        request.url().query(),
        Some("page=2&sort=name&api_key=a+b%26c%3Dd%2F%C3%A9&tenant=acme")
    );
    let pairs: Vec<(String, String)> = request
        .url()
        .query_pairs()
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    assert_eq!(pairs[2], ("api_key".into(), "a b&c=d/é".into()));
}

#[tokio::test]
async fn none_changes_nothing() {
    let auth = Authenticator::new(Credentials::None);
    let request = apply(&auth, "https://api.example.com/?a=1").await.unwrap();
    assert!(request.headers().is_empty());
    assert_eq!(request.url().query(), Some("a=1"));
    assert!(auth.secrets().is_empty());
}

#[test]
fn debug_output_contains_no_secrets() {
    let all = [
        Credentials::Basic {
            username: Secret::new("user-secret-1"),
            password: Secret::new("pass-secret-2"),
        },
        Credentials::Bearer {
            token: Secret::new("bearer-secret-3"),
        },
        Credentials::Headers(vec![("X-Api-Key".into(), Secret::new("header-secret-4"))]),
        Credentials::Params(vec![("api_key".into(), Secret::new("param-secret-5"))]),
        Credentials::Aws4 {
            access_key_id: Secret::new("AKID-secret-6"),
            secret_key: Secret::new("aws-secret-7"),
            session_token: Some(Secret::new("session-secret-8")),
            region: "eu-west-1".into(),
            service: "ce".into(),
        },
        Credentials::OAuth2(OAuth2Config {
            token_url: url::Url::parse("https://auth.example.com/token").unwrap(),
            client_id: Secret::new("client-id-secret-9"),
            client_secret: Secret::new("client-secret-10"),
            refresh_token: Some(Secret::new("refresh-secret-11")),
            scopes: Some("read write".into()),
            audience: None,
            client_auth: ClientAuth::Post,
        }),
    ];
    for credentials in all {
        let auth = Authenticator::new(credentials.clone());
        let secrets = auth.secrets();
        assert!(!secrets.is_empty());
        for text in [format!("{credentials:?}"), format!("{auth:?}")] {
            assert!(!text.contains("secret-"), "{text}");
            for secret in &secrets {
                assert!(!text.contains(secret.as_str()), "{text}");
            }
        }
    }
    let text = format!(
        "{:?}",
        Credentials::Headers(vec![("X-Api-Key".into(), Secret::new("hidden"))])
    );
    assert_eq!(text, r#"Headers(["X-Api-Key"])"#);
}

// ----- SigV4 -----------------------------------------------------------------------

#[test]
fn sigv4_get_vanilla() {
    let mut request = get("https://example.amazonaws.com/");
    let parts = sign_vector(&mut request);
    assert_eq!(
        parts.canonical_request,
        "GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:20150830T123600Z\n\n\
         host;x-amz-date\n\
         e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(
        auth_header(&request),
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, \
         SignedHeaders=host;x-amz-date, \
         Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    );
    assert_eq!(parts.authorization, auth_header(&request));
    assert_eq!(request.headers()["x-amz-date"], "20150830T123600Z");
}

#[test]
fn sigv4_get_vanilla_query_order_key_case() {
    let mut request = get("https://example.amazonaws.com/?Param2=value2&Param1=value1");
    let parts = sign_vector(&mut request);
    assert_eq!(
        parts.canonical_request.lines().nth(2),
        Some("Param1=value1&Param2=value2")
    );
    assert!(auth_header(&request).ends_with(
        "SignedHeaders=host;x-amz-date, \
         Signature=b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"
    ));
    // The request itself keeps its parameter order.
    assert_eq!(request.url().query(), Some("Param2=value2&Param1=value1"));
}

#[test]
fn sigv4_post_vanilla() {
    let mut request = reqwest::Request::new(
        reqwest::Method::POST,
        url::Url::parse("https://example.amazonaws.com/").unwrap(),
    );
    sign_vector(&mut request);
    assert!(auth_header(&request)
        .ends_with("Signature=5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"));
}

#[test]
fn sigv4_post_json_cost_explorer() {
    let body = r#"{"TimePeriod":{"Start":"2024-01-01","End":"2024-02-01"},"Granularity":"MONTHLY","Metrics":["UnblendedCost"]}"#;
    let mut request = reqwest::Client::new()
        .post("https://ce.us-east-1.amazonaws.com/")
        .header("x-amz-target", "AWSInsightsIndexService.GetCostAndUsage")
        .header("content-type", "application/x-amz-json-1.1")
        .body(body)
        .build()
        .unwrap();
    let parts = sigv4_parts(
        &mut request,
        AKID,
        AWS_SECRET,
        Some("session-token-value"),
        "us-east-1",
        "ce",
        vector_time(),
    )
    .unwrap();
    assert_eq!(
        parts.signed_headers,
        "content-type;host;x-amz-date;x-amz-security-token;x-amz-target"
    );
    assert_eq!(
        parts.canonical_request,
        format!(
            "POST\n/\n\n\
             content-type:application/x-amz-json-1.1\n\
             host:ce.us-east-1.amazonaws.com\n\
             x-amz-date:20150830T123600Z\n\
             x-amz-security-token:session-token-value\n\
             x-amz-target:AWSInsightsIndexService.GetCostAndUsage\n\n\
             content-type;host;x-amz-date;x-amz-security-token;x-amz-target\n{}",
            sha256_hex(body.as_bytes())
        )
    );
    let authorization = auth_header(&request);
    let prefix = "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/ce/aws4_request, \
                  SignedHeaders=content-type;host;x-amz-date;x-amz-security-token;x-amz-target, \
                  Signature=";
    assert!(authorization.starts_with(prefix), "{authorization}");
    let signature = &authorization[prefix.len()..];
    assert_eq!(signature.len(), 64);
    assert!(signature
        .bytes()
        .all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    // Computed independently (Python hashlib/hmac over the canonical request above).
    assert_eq!(
        signature,
        "391fdb260e234ffa6452fd5a361439a86451240257b759516acf419af5deb719"
    );
    assert_eq!(
        request.headers()["x-amz-security-token"],
        "session-token-value"
    );
    assert_eq!(request.headers()["x-amz-date"], "20150830T123600Z");
    assert!(request.headers().get("x-amz-content-sha256").is_none());
}

#[test]
fn sigv4_s3_signs_payload_hash_header() {
    let mut request = get("https://bucket.s3.amazonaws.com/a%20key/x");
    let parts = sigv4_parts(
        &mut request,
        AKID,
        AWS_SECRET,
        None,
        "us-east-1",
        "s3",
        vector_time(),
    )
    .unwrap();
    assert_eq!(parts.signed_headers, "host;x-amz-content-sha256;x-amz-date");
    assert_eq!(
        request.headers()["x-amz-content-sha256"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    assert_eq!(parts.canonical_request.lines().nth(1), Some("/a%20key/x"));

    // Characters the URL leaves bare are encoded on the wire, as signed.
    let mut request = get("https://bucket.s3.amazonaws.com/a:b(c)");
    let parts = sigv4_parts(
        &mut request,
        AKID,
        AWS_SECRET,
        None,
        "us-east-1",
        "s3",
        vector_time(),
    )
    .unwrap();
    assert_eq!(
        parts.canonical_request.lines().nth(1),
        Some("/a%3Ab%28c%29")
    );
    assert_eq!(request.url().path(), "/a%3Ab%28c%29");
}

#[test]
fn sigv4_canonical_uri_and_query_rules() {
    // Non-S3: normalised, and each segment of the encoded path encoded again.
    assert_eq!(canonical_uri("/", "service"), "/");
    assert_eq!(canonical_uri("//example//", "service"), "/example/");
    assert_eq!(canonical_uri("/a/./b/../c", "service"), "/a/c");
    assert_eq!(canonical_uri("/a%20b/m:1", "bedrock"), "/a%2520b/m%3A1");
    // S3: decoded and encoded once, no normalisation.
    assert_eq!(canonical_uri("/a%20b//m:1", "s3"), "/a%20b//m%3A1");
    // Query: decoded ('+' is a space) and encoded per AWS rules.
    assert_eq!(
        aws_query_pairs("b=x+y&a=%7e/,&flag"),
        vec![
            ("b".to_string(), "x%20y".to_string()),
            ("a".to_string(), "~%2F%2C".to_string()),
            ("flag".to_string(), String::new()),
        ]
    );
    let mut request = get("https://example.amazonaws.com/?q=a+b&z=1");
    sign_vector(&mut request);
    assert_eq!(request.url().query(), Some("q=a%20b&z=1"));
}

#[test]
fn sigv4_host_includes_non_default_port_and_resigning_replaces_headers() {
    let mut request = get("http://localhost:4566/");
    let parts = sign_vector(&mut request);
    assert!(parts.canonical_request.contains("\nhost:localhost:4566\n"));
    let first = auth_header(&request);
    sign_vector(&mut request);
    assert_eq!(auth_header(&request), first);
    assert_eq!(request.headers().get_all(AUTHORIZATION).iter().count(), 1);
}

#[tokio::test]
async fn aws4_credentials_sign_via_apply() {
    let auth = Authenticator::new(Credentials::Aws4 {
        access_key_id: Secret::new(AKID),
        secret_key: Secret::new(AWS_SECRET),
        session_token: None,
        region: "eu-west-1".into(),
        service: "ce".into(),
    });
    let request = apply(&auth, "https://ce.eu-west-1.amazonaws.com/")
        .await
        .unwrap();
    let authorization = auth_header(&request);
    assert!(authorization.starts_with("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/"));
    assert!(authorization
        .contains("/eu-west-1/ce/aws4_request, SignedHeaders=host;x-amz-date, Signature="));
    assert!(!authorization.contains(AWS_SECRET));
}

// ----- OAuth2 ----------------------------------------------------------------------

fn oauth(server: &MockServer, client_auth: ClientAuth, refresh: Option<&str>) -> OAuth2Config {
    OAuth2Config {
        token_url: url::Url::parse(&format!("{}/oauth/token", server.uri())).unwrap(),
        client_id: Secret::new("my-client"),
        client_secret: Secret::new(CLIENT_SECRET),
        refresh_token: refresh.map(Secret::new),
        scopes: Some("read write".into()),
        audience: None,
        client_auth,
    }
}

fn token(access: &str, expires_in: u64) -> ResponseTemplate {
    ResponseTemplate::new(200).set_body_json(serde_json::json!({
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": expires_in,
    }))
}

#[tokio::test]
async fn oauth2_client_credentials_with_client_secret_basic() {
    let server = MockServer::start().await;
    let basic = format!(
        "Basic {}",
        BASE64.encode(format!("my-client:{CLIENT_SECRET}"))
    );
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(header("authorization", basic.as_str()))
        .and(header("content-type", "application/x-www-form-urlencoded"))
        .and(header("accept", "application/json"))
        .and(body_string(
            "grant_type=client_credentials&scope=read+write",
        ))
        .respond_with(token("access-1", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
    let request = apply(&auth, "https://api.example.com/x").await.unwrap();
    assert_eq!(auth_header(&request), "Bearer access-1");
    assert!(auth.secrets().contains(&"access-1".to_string()));
}

#[tokio::test]
async fn oauth2_client_credentials_with_client_secret_post() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .and(path("/oauth/token"))
        .and(body_string(format!(
            "grant_type=client_credentials&scope=read+write\
             &audience=https%3A%2F%2Fapi.example.com\
             &client_id=my-client&client_secret={CLIENT_SECRET}"
        )))
        .respond_with(token("access-post", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let mut config = oauth(&server, ClientAuth::Post, None);
    config.audience = Some("https://api.example.com".into());
    let auth = Authenticator::new(Credentials::OAuth2(config));
    let request = apply(&auth, "https://api.example.com/x").await.unwrap();
    assert_eq!(auth_header(&request), "Bearer access-post");
    let received = server.received_requests().await.unwrap();
    assert!(received[0].headers.get("authorization").is_none());
}

#[tokio::test]
async fn oauth2_refresh_grant_follows_rotation() {
    let server = MockServer::start().await;
    let rotate = |access: &str, next: &str| {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": access,
            "refresh_token": next,
            "expires_in": 30,
        }))
    };
    Mock::given(method("POST"))
        .and(body_string(format!(
            "grant_type=refresh_token&refresh_token={REFRESH}&scope=read+write"
        )))
        .respond_with(rotate("access-1", "refresh-token-two"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string(
            "grant_type=refresh_token&refresh_token=refresh-token-two&scope=read+write",
        ))
        .respond_with(rotate("access-2", "refresh-token-three"))
        .expect(1)
        .mount(&server)
        .await;
    let auth = Authenticator::new(Credentials::OAuth2(oauth(
        &server,
        ClientAuth::Basic,
        Some(REFRESH),
    )));
    // expires_in 30 is inside the 60 s margin, so every apply refreshes.
    let first = apply(&auth, "https://api.example.com/x").await.unwrap();
    assert_eq!(auth_header(&first), "Bearer access-1");
    let second = apply(&auth, "https://api.example.com/x").await.unwrap();
    assert_eq!(auth_header(&second), "Bearer access-2");
    let secrets = auth.secrets();
    assert!(secrets.contains(&"refresh-token-three".to_string()));
    assert!(secrets.contains(&REFRESH.to_string()));
}

#[tokio::test]
async fn rotated_oauth2_tokens_leave_the_redaction_list() {
    let server = MockServer::start().await;
    let rotate = |access: &str, next: &str| {
        ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "access_token": access,
            "refresh_token": next,
            "expires_in": 30,
        }))
    };
    Mock::given(method("POST"))
        .and(body_string(format!(
            "grant_type=refresh_token&refresh_token={REFRESH}&scope=read+write"
        )))
        .respond_with(rotate("rot-access-one", "rot-refresh-two"))
        .expect(1)
        .mount(&server)
        .await;
    Mock::given(method("POST"))
        .and(body_string(
            "grant_type=refresh_token&refresh_token=rot-refresh-two&scope=read+write",
        ))
        .respond_with(rotate("rot-access-three", "rot-refresh-four"))
        .expect(1)
        .mount(&server)
        .await;
    let auth = Authenticator::new(Credentials::OAuth2(oauth(
        &server,
        ClientAuth::Basic,
        Some(REFRESH),
    )));
    apply(&auth, "https://api.example.com/x").await.unwrap();
    assert!(crate::secret::is_registered("rot-access-one"));
    assert!(crate::secret::is_registered("rot-refresh-two"));
    apply(&auth, "https://api.example.com/x").await.unwrap();
    // The replaced tokens are gone; the current ones and the configured one stay.
    assert!(!crate::secret::is_registered("rot-access-one"));
    assert!(!crate::secret::is_registered("rot-refresh-two"));
    assert!(crate::secret::is_registered("rot-access-three"));
    assert!(crate::secret::is_registered("rot-refresh-four"));
    assert_eq!(
        crate::secret::redact("rot-access-three rot-refresh-four"),
        "*** ***"
    );
}

#[tokio::test]
async fn oauth2_token_is_cached() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token("cached-access", 3600))
        .expect(1)
        .mount(&server)
        .await;
    let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
    for _ in 0..2 {
        let request = apply(&auth, "https://api.example.com/x").await.unwrap();
        assert_eq!(auth_header(&request), "Bearer cached-access");
    }
}

#[tokio::test]
async fn oauth2_token_without_expiry_is_cached() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_json(serde_json::json!({ "access_token": "forever" })),
        )
        .expect(1)
        .mount(&server)
        .await;
    let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
    apply(&auth, "https://api.example.com/x").await.unwrap();
    let request = apply(&auth, "https://api.example.com/x").await.unwrap();
    assert_eq!(auth_header(&request), "Bearer forever");
}

#[tokio::test]
async fn oauth2_huge_expires_in_does_not_overflow() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token("long-lived", u64::MAX))
        .expect(1)
        .mount(&server)
        .await;
    let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
    apply(&auth, "https://api.example.com/x").await.unwrap();
    apply(&auth, "https://api.example.com/x").await.unwrap();
}

#[tokio::test]
async fn oauth2_expiring_token_is_refetched() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token("short-lived", 5))
        .expect(2)
        .mount(&server)
        .await;
    let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
    apply(&auth, "https://api.example.com/x").await.unwrap();
    apply(&auth, "https://api.example.com/x").await.unwrap();
}

#[tokio::test]
async fn oauth2_invalidate_forces_refetch() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token("access", 3600))
        .expect(2)
        .mount(&server)
        .await;
    let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
    apply(&auth, "https://api.example.com/x").await.unwrap();
    assert!(auth.invalidate());
    apply(&auth, "https://api.example.com/x").await.unwrap();
}

#[tokio::test]
async fn oauth2_error_status_is_reported_without_secrets() {
    let server = MockServer::start().await;
    // The body echoes the secret back, as some badly behaved endpoints do.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(400).set_body_json(serde_json::json!({
            "error": "invalid_client",
            "error_description": format!("client secret {CLIENT_SECRET} is wrong"),
        })))
        .expect(1)
        .mount(&server)
        .await;
    let config = oauth(&server, ClientAuth::Post, None);
    let token_url = config.token_url.to_string();
    let auth = Authenticator::new(Credentials::OAuth2(config));
    let err = apply(&auth, "https://api.example.com/x").await.unwrap_err();
    let text = err.to_string();
    assert!(matches!(err, AuthError::TokenStatus { .. }), "{text}");
    assert!(text.contains(&token_url), "{text}");
    assert!(text.contains("400"), "{text}");
    assert!(text.contains("invalid_client"), "{text}");
    assert!(!text.contains(CLIENT_SECRET), "{text}");
    assert!(!format!("{err:?}").contains(CLIENT_SECRET));
}

#[tokio::test]
async fn oauth2_refresh_rejected_is_reported_without_secrets() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(401).set_body_string(format!(
            "invalid_grant: refresh_token={REFRESH} client_secret={CLIENT_SECRET} \
             access_token=leaked-access"
        )))
        .expect(1)
        .mount(&server)
        .await;
    let config = oauth(&server, ClientAuth::Basic, Some(REFRESH));
    let token_url = config.token_url.to_string();
    let auth = Authenticator::new(Credentials::OAuth2(config));
    let err = apply(&auth, "https://api.example.com/x").await.unwrap_err();
    let text = err.to_string();
    assert!(text.contains(&token_url), "{text}");
    assert!(text.contains("401"), "{text}");
    assert!(!text.contains(REFRESH), "{text}");
    assert!(!text.contains(CLIENT_SECRET), "{text}");
}

#[tokio::test]
async fn oauth2_error_json_masks_token_fields() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(500).set_body_json(serde_json::json!({
            "access_token": "unknown-leaked-token",
            "error": "server_error",
        })))
        .mount(&server)
        .await;
    let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
    let text = apply(&auth, "https://api.example.com/x")
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("server_error"), "{text}");
    assert!(!text.contains("unknown-leaked-token"), "{text}");
}

#[tokio::test]
async fn oauth2_response_without_access_token() {
    let server = MockServer::start().await;
    // GitHub-style: 200 with an error object.
    Mock::given(method("POST"))
        .respond_with(ResponseTemplate::new(200).set_body_json(serde_json::json!({
            "error": "bad_verification_code",
            "error_description": "The code passed is incorrect or expired.",
        })))
        .mount(&server)
        .await;
    let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
    let err = apply(&auth, "https://api.example.com/x").await.unwrap_err();
    assert!(matches!(err, AuthError::MissingAccessToken { .. }), "{err}");
    assert!(err.to_string().contains("bad_verification_code"), "{err}");
}

#[tokio::test]
async fn oauth2_form_encoded_token_response() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_body_string("access_token=form-token&token_type=bearer&expires_in=3600"),
        )
        .expect(1)
        .mount(&server)
        .await;
    let auth = Authenticator::new(Credentials::OAuth2(oauth(&server, ClientAuth::Basic, None)));
    let request = apply(&auth, "https://api.example.com/x").await.unwrap();
    assert_eq!(auth_header(&request), "Bearer form-token");
    apply(&auth, "https://api.example.com/x").await.unwrap();
}

#[tokio::test]
async fn oauth2_unreachable_endpoint() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    drop(listener);
    let auth = Authenticator::new(Credentials::OAuth2(OAuth2Config {
        token_url: url::Url::parse(&format!("http://127.0.0.1:{port}/token")).unwrap(),
        client_id: Secret::new("my-client"),
        client_secret: Secret::new(CLIENT_SECRET),
        refresh_token: None,
        scopes: None,
        audience: None,
        client_auth: ClientAuth::Basic,
    }));
    let err = apply(&auth, "https://api.example.com/x").await.unwrap_err();
    assert!(matches!(err, AuthError::TokenUnreachable { .. }), "{err}");
    assert!(
        err.to_string().contains(&format!("127.0.0.1:{port}/token")),
        "{err}"
    );
}

#[tokio::test]
async fn oauth2_concurrent_applies_fetch_once() {
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token("shared-access", 3600).set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&server)
        .await;
    let auth = Arc::new(Authenticator::new(Credentials::OAuth2(oauth(
        &server,
        ClientAuth::Basic,
        None,
    ))));
    let http = reqwest::Client::new();
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let auth = Arc::clone(&auth);
            let http = http.clone();
            tokio::spawn(async move {
                let mut request = get("https://api.example.com/x");
                auth.apply(&http, &mut request).await.unwrap();
                auth_header(&request)
            })
        })
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), "Bearer shared-access");
    }
}

#[tokio::test]
async fn oauth2_concurrent_applies_share_a_short_lived_token() {
    // Even a token inside the refresh margin is shared by callers that were waiting
    // for the fetch that produced it.
    let server = MockServer::start().await;
    Mock::given(method("POST"))
        .respond_with(token("short-shared", 30).set_delay(Duration::from_millis(200)))
        .expect(1)
        .mount(&server)
        .await;
    let auth = Arc::new(Authenticator::new(Credentials::OAuth2(oauth(
        &server,
        ClientAuth::Basic,
        None,
    ))));
    let tasks: Vec<_> = (0..10)
        .map(|_| {
            let auth = Arc::clone(&auth);
            tokio::spawn(async move {
                let mut request = get("https://api.example.com/x");
                auth.apply(&reqwest::Client::new(), &mut request)
                    .await
                    .unwrap();
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
}
