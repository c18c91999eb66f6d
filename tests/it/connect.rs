//! `connect` driven from stdin: the connection is tested, saved and usable.

use crate::cli::unify;
use crate::support::*;

#[tokio::test(flavor = "multi_thread")]
async fn connect_from_stdin_answers_then_the_connection_is_usable() {
    let server = mocksvc().await;
    let t = TestHome::new();
    t.spec("mocksvc", &mocksvc_spec(&server.uri()));
    std::fs::write(t.home.connections_file(), "# my connections\n").unwrap();

    // A wrong password: the test request fails and nothing is written.
    let r = unify(
        t.dir.path(),
        &["connect"],
        "mocksvc\ndemo\nscott@example.com\nwrong\n",
    )
    .await;
    assert_eq!(r.code, 1, "{}", r.stderr);
    assert!(
        r.stderr
            .contains("Connection failed: API call unauthorized: HTTP 401"),
        "{}",
        r.stderr
    );
    assert!(
        !r.stderr.contains("wrong"),
        "the secret is not echoed: {}",
        r.stderr
    );
    assert_eq!(
        std::fs::read_to_string(t.home.connections_file()).unwrap(),
        "# my connections\n"
    );

    // The right one.
    std::env::set_var("UNIFY_TEST_MOCK_PASSWORD", "abc123");
    let r = unify(
        t.dir.path(),
        &["connect"],
        "mocksvc\ndemo\nscott@example.com\n$UNIFY_TEST_MOCK_PASSWORD\n",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("Testing connection..."), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("New mocksvc connection created in schema demo"),
        "{}",
        r.stderr
    );
    assert!(
        r.stdout.contains("repos27"),
        "the tables are listed: {}",
        r.stdout
    );
    let text = std::fs::read_to_string(t.home.connections_file()).unwrap();
    assert!(
        text.starts_with("# my connections\n- demo:\n    connector: mocksvc\n"),
        "{text}"
    );
    assert!(
        text.contains("password: $UNIFY_TEST_MOCK_PASSWORD"),
        "{text}"
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(t.home.connections_file())
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);

    let r = unify(
        t.dir.path(),
        &[
            "--format",
            "csv",
            "-c",
            "select count(*) from demo.repos27; demo help",
        ],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    // In csv, stdout carries results only: the connector's help goes to stderr.
    assert_eq!(r.stdout, "count\n27\n");
    assert!(
        r.stderr.contains("No help available for connector mocksvc"),
        "{}",
        r.stderr
    );

    // Options on the command line; a duplicate schema is refused.
    let r = unify(
        t.dir.path(),
        &[
            "connect",
            "mocksvc",
            "--schema",
            "demo",
            "--option",
            "username=x",
            "--option",
            "password=y",
        ],
        "",
    )
    .await;
    assert_eq!(r.code, 1);
    assert!(
        r.stderr
            .contains("Schema name must be unique: 'demo' is already a connection"),
        "{}",
        r.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn spec_check_reports_every_problem_and_live_shows_inferred_columns() {
    let server = mocksvc().await;
    let t = TestHome::new();
    let broken = t.dir.path().join("broken_spec.yaml");
    std::fs::write(
        &broken,
        "name: broken\nbase_url: nope\ntables:\n  - name: a\n    resource_path: /a\n    bogus: 1\n  - name: b\n    supports_paging: true\n",
    )
    .unwrap();
    let r = unify(
        t.dir.path(),
        &["spec", "check", broken.to_str().unwrap()],
        "",
    )
    .await;
    assert_eq!(r.code, 1);
    for needle in [
        "base_url: 'nope' is not a valid URL",
        "tables.a.bogus: Invalid key 'bogus'",
        "tables.b.resource_path: missing",
        "tables.b.supports_paging: supports_paging is true but neither the table nor the spec defines paging",
        "4 problems found",
    ] {
        assert!(r.stderr.contains(needle), "missing {needle:?} in {}", r.stderr);
    }

    let good = t.dir.path().join("mocksvc_spec.yaml");
    std::fs::write(&good, mocksvc_spec(&server.uri())).unwrap();
    let r = unify(t.dir.path(), &["spec", "check", good.to_str().unwrap()], "").await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stderr.contains("ok: spec 'mocksvc'"), "{}", r.stderr);
    let r = unify(
        t.dir.path(),
        &[
            "--format",
            "csv",
            "spec",
            "check",
            good.to_str().unwrap(),
            "--live",
            "--option",
            "username=scott@example.com",
            "--option",
            "password=abc123",
        ],
        "",
    )
    .await;
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stdout.starts_with("table,records,column,type\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("repos27,27,owner_login,VARCHAR\n"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains("repos1100,100,created_at,TIMESTAMP\n"),
        "{}",
        r.stdout
    );
    assert_eq!(
        requests_to(&server, "/api/repos_1100").await.len(),
        1,
        "one page per table"
    );
}
