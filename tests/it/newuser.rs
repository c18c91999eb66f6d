//! A new user's first hour, through the real binaries, in both modes (the daemon, the
//! default, and `--no-daemon`), starting from a home that does not exist yet.

use crate::pty::Pty;
use serde_json::json;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;
use wiremock::matchers::{method, path};
use wiremock::{Mock, MockServer, ResponseTemplate};

/// Output of one run.
#[derive(Debug)]
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

/// Run `program args` with `stdin` (none: a closed stdin), `env` added, in `dir`.
pub async fn run_in(
    program: &str,
    dir: Option<&Path>,
    args: &[&str],
    stdin: Option<&str>,
    env: &[(&str, &str)],
) -> Out {
    let program = program.to_string();
    let dir = dir.map(Path::to_path_buf);
    let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
    let stdin = stdin.map(str::to_string);
    let env: Vec<(String, String)> = env
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    tokio::task::spawn_blocking(move || {
        let mut cmd = Command::new(&program);
        cmd.args(&args)
            .env_remove("UNIFY_HOME")
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        if let Some(d) = &dir {
            cmd.current_dir(d);
        }
        for (k, v) in &env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().expect("the binary runs");
        if let Some(text) = stdin {
            child
                .stdin
                .take()
                .unwrap()
                .write_all(text.as_bytes())
                .unwrap();
        }
        let out = child.wait_with_output().unwrap();
        Out {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    })
    .await
    .unwrap()
}

/// A home path that does not exist yet, and the daemon it may get (stopped on drop).
pub struct Fresh {
    /// Holds the temporary directory for as long as the home is used.
    _dir: tempfile::TempDir,
    pub home: PathBuf,
}

impl Fresh {
    pub fn new() -> Fresh {
        let dir = tempfile::tempdir().unwrap();
        let home = dir.path().canonicalize().unwrap().join("new").join("home");
        assert!(!home.exists());
        Fresh { _dir: dir, home }
    }

    pub fn home_str(&self) -> String {
        self.home.display().to_string()
    }

    /// `unify --home <home> args` (daemon mode unless args say `--no-daemon`).
    pub async fn unify(&self, args: &[&str], stdin: Option<&str>) -> Out {
        self.unify_env(args, stdin, &[]).await
    }

    pub async fn unify_env(&self, args: &[&str], stdin: Option<&str>, env: &[(&str, &str)]) -> Out {
        let home = self.home_str();
        let mut all = vec!["--home", home.as_str()];
        all.extend_from_slice(args);
        run_in(env!("CARGO_BIN_EXE_unify"), None, &all, stdin, env).await
    }

    pub async fn unifyd(&self, args: &[&str]) -> Out {
        let home = self.home_str();
        let mut all = vec!["--home", home.as_str()];
        all.extend_from_slice(args);
        run_in(env!("CARGO_BIN_EXE_unifyd"), None, &all, None, &[]).await
    }

    /// The running daemon's pid, from `unifyd status`.
    pub async fn daemon_pid(&self) -> Option<u32> {
        let out = self.unifyd(&["status"]).await;
        out.stdout
            .split("pid ")
            .nth(1)
            .and_then(|s| s.split([',', ')']).next())
            .and_then(|s| s.trim().parse().ok())
    }
}

impl Drop for Fresh {
    fn drop(&mut self) {
        let _ = Command::new(env!("CARGO_BIN_EXE_unifyd"))
            .arg("--home")
            .arg(&self.home)
            .arg("stop")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

fn assert_ok(out: &Out) {
    assert_eq!(
        out.code, 0,
        "stdout: {}\nstderr: {}",
        out.stdout, out.stderr
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_first_command_works_on_a_home_that_does_not_exist_in_both_modes() {
    // Daemon mode (the default): -c, then stdin, then the daemon is there.
    let f = Fresh::new();
    let out = f
        .unify(&["--format", "csv", "-c", "select 1 as n"], None)
        .await;
    assert_ok(&out);
    assert_eq!(out.stdout, "n\n1\n");
    assert!(f.home.join("run").is_dir() && f.home.join("unify.duckdb").is_file());
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&f.home).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o700, "a new home is private");
    assert!(f.daemon_pid().await.is_some(), "the daemon runs");

    let f = Fresh::new();
    let out = f
        .unify(&["--format", "csv"], Some("select 2 as n;\n"))
        .await;
    assert_ok(&out);
    assert_eq!(out.stdout, "n\n2\n");

    // --no-daemon: -c and stdin; no daemon is left behind.
    let f = Fresh::new();
    let out = f
        .unify(
            &["--no-daemon", "--format", "csv", "-c", "select 3 as n"],
            None,
        )
        .await;
    assert_ok(&out);
    assert_eq!(out.stdout, "n\n3\n");
    assert!(f.daemon_pid().await.is_none());
    let f = Fresh::new();
    let out = f
        .unify(
            &["--no-daemon", "--format", "csv"],
            Some("select 4 as n;\n"),
        )
        .await;
    assert_ok(&out);
    assert_eq!(out.stdout, "n\n4\n");

    // An empty directory is a new home too.
    let f = Fresh::new();
    std::fs::create_dir_all(&f.home).unwrap();
    let out = f
        .unify(&["--format", "csv", "-c", "select 5 as n"], None)
        .await;
    assert_ok(&out);
    assert_eq!(out.stdout, "n\n5\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn unifyd_start_status_stop_on_a_new_home() {
    let f = Fresh::new();
    let out = f.unifyd(&["status"]).await;
    assert_eq!(out.code, 3, "{out:?}");
    assert!(out.stdout.contains("not running"), "{out:?}");
    let out = f.unifyd(&["start"]).await;
    assert_ok(&out);
    assert!(out.stdout.contains("unifyd started (pid "), "{out:?}");
    let pid = f.daemon_pid().await.expect("running");
    // A client uses that daemon.
    let out = f
        .unify(&["--format", "csv", "-c", "select 6 as n"], None)
        .await;
    assert_ok(&out);
    assert_eq!(f.daemon_pid().await, Some(pid));
    let out = f.unifyd(&["stop"]).await;
    assert_ok(&out);
    assert!(out.stdout.contains("unifyd stopped"), "{out:?}");
    assert!(f.daemon_pid().await.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn every_spelling_of_a_home_reaches_the_same_daemon() {
    let f = Fresh::new();
    let out = f.unify(&["-c", "select 1"], None).await;
    assert_ok(&out);
    let pid = f.daemon_pid().await.expect("a daemon");
    let parent = f.home.parent().unwrap().to_path_buf();
    std::os::unix::fs::symlink(&f.home, parent.join("link")).unwrap();
    for (dir, spelling) in [
        (None, format!("{}/", f.home.display())),
        (None, format!("{}/../home", f.home.display())),
        (Some(parent.clone()), "home".to_string()),
        (Some(parent.clone()), "./home/".to_string()),
        (None, parent.join("link").display().to_string()),
    ] {
        let out = run_in(
            env!("CARGO_BIN_EXE_unifyd"),
            dir.as_deref(),
            &["--home", &spelling, "status"],
            None,
            &[],
        )
        .await;
        assert!(
            out.stdout
                .contains(&format!("running (pid {pid}, home {})", f.home.display())),
            "{spelling}: {out:?}"
        );
        // And a client through that spelling talks to it, not to a second daemon.
        let out = run_in(
            env!("CARGO_BIN_EXE_unify"),
            dir.as_deref(),
            &[
                "--home",
                &spelling,
                "--format",
                "csv",
                "-c",
                "select 7 as n",
            ],
            None,
            &[],
        )
        .await;
        assert_eq!(out.stdout, "n\n7\n", "{spelling}: {out:?}");
        assert_eq!(f.daemon_pid().await, Some(pid), "{spelling}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_home_that_cannot_be_set_up_is_reported_as_what_it_is() {
    let f = Fresh::new();
    std::fs::create_dir_all(&f.home).unwrap();
    // `run` is a file: the daemon's directory cannot be created.
    std::fs::write(f.home.join("run"), "not a directory").unwrap();
    for mode in [None, Some("--no-daemon")] {
        let mut args: Vec<&str> = mode.into_iter().collect();
        args.extend(["-c", "select 1"]);
        let out = f.unify(&args, None).await;
        assert_eq!(out.code, 1, "{out:?}");
        assert!(
            !out.stderr.contains("another unify process"),
            "{mode:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.contains(&f.home_str()) && out.stderr.contains("exists"),
            "{mode:?}: the error says what failed: {}",
            out.stderr
        );
        assert_eq!(
            out.stderr.trim().lines().count(),
            1,
            "one line: {}",
            out.stderr
        );
    }
}

/// The bundled jsonplaceholder spec, its base URL pointing at `base`.
fn jsonplaceholder_spec(base: &str) -> String {
    let (_, text) = unify::adapters::catalog::Catalog::bundled_files()
        .into_iter()
        .find(|(name, _)| name == "jsonplaceholder_spec.yaml")
        .unwrap();
    text.replace("https://jsonplaceholder.typicode.com", base)
}

/// JSONPlaceholder's data (a few users, posts and comments), json-server style paging.
async fn jsonplaceholder() -> MockServer {
    let server = MockServer::start().await;
    let users = json!([
        {"id": 1, "name": "Leanne Graham", "email": "Sincere@april.biz", "address": {"city": "Gwenborough"}},
        {"id": 2, "name": "Ervin Howell", "email": "Shanna@melissa.tv", "address": {"city": "Wisokyburgh"}},
        {"id": 3, "name": "Clementine Bauch", "email": "Nathan@yesenia.net", "address": {"city": "McKenziehaven"}},
    ]);
    let posts = json!([
        {"userId": 1, "id": 1, "title": "sunt aut facere", "body": "quia et suscipit"},
        {"userId": 1, "id": 2, "title": "qui est esse", "body": "est rerum tempore"},
        {"userId": 2, "id": 3, "title": "ea molestias", "body": "et iusto sed"},
    ]);
    Mock::given(method("GET"))
        .and(path("/users"))
        .respond_with(ResponseTemplate::new(200).set_body_json(users))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/posts"))
        .and(wiremock::matchers::query_param("_page", "1"))
        .respond_with(ResponseTemplate::new(200).set_body_json(posts))
        .mount(&server)
        .await;
    Mock::given(method("GET"))
        .and(path("/posts"))
        .respond_with(ResponseTemplate::new(200).set_body_json(json!([])))
        .mount(&server)
        .await;
    for post in 1..=3 {
        Mock::given(method("GET"))
            .and(path(format!("/posts/{post}/comments")))
            .respond_with(ResponseTemplate::new(200).set_body_json(json!([
                {"postId": post, "id": post * 10, "name": "c", "email": "a@b.c", "body": "nice"}
            ])))
            .mount(&server)
            .await;
    }
    server
}

/// The README's "Try it in five minutes", statement by statement, from a home that holds
/// nothing but a copy of the bundled jsonplaceholder spec pointing at a local server (the
/// test suite never touches the internet).
async fn readme_quick_start(no_daemon: bool) {
    let server = jsonplaceholder().await;
    let f = Fresh::new();
    std::fs::create_dir_all(f.home.join("rest_specs")).unwrap();
    std::fs::write(
        f.home.join("rest_specs/jsonplaceholder_spec.yaml"),
        jsonplaceholder_spec(&server.uri()),
    )
    .unwrap();
    let mode: Vec<&str> = if no_daemon {
        vec!["--no-daemon"]
    } else {
        vec![]
    };
    let with = |args: &[&'static str]| -> Vec<&str> {
        let mut all = mode.clone();
        all.extend_from_slice(args);
        all
    };

    let out = f
        .unify(
            &with(&["connect", "jsonplaceholder", "--schema", "demo"]),
            Some(""),
        )
        .await;
    assert_ok(&out);
    assert!(
        out.stderr
            .contains("New jsonplaceholder connection created in schema demo"),
        "{out:?}"
    );
    assert!(f.home.join("connections.yaml").is_file());

    let script = "show tables from demo;
select name, email from demo.users limit 3;
select u.name, count(*) as posts
  from demo.posts p join demo.users u on p.userId = u.id
  group by u.name order by posts desc;
select * from demo.posts_per_user;
peek demo.comments
describe demo.users
$TOP = select name from demo.users limit 2
export demo.posts to 'posts.parquet'
system status
";
    let out = f.unify(&with(&["--format", "json"]), Some(script)).await;
    assert_ok(&out);
    let results: Vec<serde_json::Value> = serde_json::Deserializer::from_str(&out.stdout)
        .into_iter::<serde_json::Value>()
        .map(|v| v.unwrap_or_else(|e| panic!("stdout is results only ({e}): {}", out.stdout)))
        .collect();
    assert!(results.len() >= 6, "{}", out.stdout);
    assert!(
        results[0].to_string().contains("posts_per_user"),
        "{}",
        results[0]
    );
    assert_eq!(results[1].as_array().unwrap().len(), 3);
    assert_eq!(results[1][0]["name"], "Leanne Graham");
    assert_eq!(results[2][0], json!({"name": "Leanne Graham", "posts": 2}));
    assert_eq!(results[3].as_array().unwrap().len(), 3, "{}", results[3]);
    assert!(
        results[4].to_string().contains("nice"),
        "peek comments: {}",
        results[4]
    );
    assert!(
        results[5].to_string().contains("address_city"),
        "describe: {}",
        results[5]
    );
    assert!(f.home.join("files/posts.parquet").is_file());
    assert!(out.stderr.contains("Exported 3 rows"), "{}", out.stderr);
    // The global variable persists across runs.
    let out = f
        .unify(
            &with(&["--format", "csv", "-c", "select count(*) as n from $TOP"]),
            None,
        )
        .await;
    assert_ok(&out);
    assert_eq!(out.stdout, "n\n2\n");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_quick_start_works_in_daemon_mode() {
    readme_quick_start(false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_readme_quick_start_works_with_no_daemon() {
    readme_quick_start(true).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_repl_starts_on_a_home_that_does_not_exist() {
    let f = Fresh::new();
    let home = f.home_str();
    let (out, code) = tokio::task::spawn_blocking(move || {
        let mut p = Pty::spawn(env!("CARGO_BIN_EXE_unify"), &["--home", &home], &[]);
        p.expect("unify> ", Duration::from_secs(60));
        p.send("select 40 + 2 as answer;\r");
        let out = p.expect("1 row", Duration::from_secs(30));
        p.send("exit\r");
        (out, p.wait(Duration::from_secs(20)))
    })
    .await
    .unwrap();
    assert!(out.contains("│     42 │"), "{out}");
    assert!(out.contains("You have no connections yet"), "{out}");
    assert_eq!(code, 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_daemon_from_another_build_is_restarted_when_idle_and_kept_when_busy() {
    // A copy of both binaries, so the test can "upgrade" its unifyd without touching
    // the one other tests use.
    let bin = tempfile::tempdir().unwrap();
    for name in ["unify", "unifyd"] {
        let from = Path::new(env!("CARGO_BIN_EXE_unify")).with_file_name(name);
        std::fs::copy(&from, bin.path().join(name)).unwrap();
    }
    let unify = bin.path().join("unify").display().to_string();
    let unifyd = bin.path().join("unifyd");
    // An upgrade writes a new file in place of the old one, as a build or an install does.
    let upgrade = |hours: u64| {
        let new = unifyd.with_file_name("unifyd.new");
        std::fs::copy(&unifyd, &new).unwrap();
        let when = std::time::SystemTime::now() + Duration::from_secs(3600 * hours);
        std::fs::File::options()
            .write(true)
            .open(&new)
            .unwrap()
            .set_modified(when)
            .unwrap();
        std::fs::rename(&new, &unifyd).unwrap();
    };
    let f = Fresh::new();
    let home = f.home_str();
    let run = |args: Vec<String>| {
        let unify = unify.clone();
        async move {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            run_in(&unify, None, &args, None, &[]).await
        }
    };
    let q = |sql: &str| {
        vec![
            "--home".to_string(),
            home.clone(),
            "--format".into(),
            "csv".into(),
            "-c".into(),
            sql.to_string(),
        ]
    };
    assert_ok(&run(q("select 1 as n")).await);
    let first = f.daemon_pid().await.unwrap();
    upgrade(1);
    let out = run(q("select 2 as n")).await;
    assert_ok(&out);
    assert_eq!(out.stdout, "n\n2\n");
    assert!(
        out.stderr.contains(&format!(
            "unifyd (pid {first}) was started from another build"
        )),
        "{}",
        out.stderr
    );
    let second = f.daemon_pid().await.unwrap();
    assert_ne!(first, second, "restarted");
    // No restart when nothing changed.
    let out = run(q("select 3 as n")).await;
    assert_ok(&out);
    assert!(!out.stderr.contains("restarting"), "{}", out.stderr);
    assert_eq!(f.daemon_pid().await, Some(second));

    // Busy with a load: the client says what to run instead of killing it.
    let server = MockServer::start().await;
    Mock::given(method("GET"))
        .and(path("/slow"))
        .respond_with(
            ResponseTemplate::new(200)
                .set_delay(Duration::from_secs(20))
                .set_body_json(json!([{"id": 1}])),
        )
        .mount(&server)
        .await;
    std::fs::create_dir_all(f.home.join("rest_specs")).unwrap();
    std::fs::write(
        f.home.join("rest_specs/mock_spec.yaml"),
        format!(
            "name: mock\nbase_url: {}\ntables:\n  - name: slow\n    resource_path: /slow\n",
            server.uri()
        ),
    )
    .unwrap();
    std::fs::write(
        f.home.join("connections.yaml"),
        "- mock:\n    connector: mock\n",
    )
    .unwrap();
    let out = run(vec![
        "--home".into(),
        home.clone(),
        "-c".into(),
        "system reload; select count(*) from mock.slow".into(),
    ]);
    // The query waits for the slow load: run it in the background.
    let waiting = tokio::spawn(out);
    let start = std::time::Instant::now();
    while server
        .received_requests()
        .await
        .unwrap_or_default()
        .is_empty()
    {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "the load never started"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    upgrade(2);
    // The same version, another build, busy: the command uses it and says how to switch.
    let out = run(q("select 4 as n")).await;
    assert_ok(&out);
    assert_eq!(out.stdout, "n\n4\n");
    assert!(
        out.stderr.contains("it is busy (1 running load") && out.stderr.contains("`unifyd stop`"),
        "{}",
        out.stderr
    );
    assert_eq!(
        f.daemon_pid().await,
        Some(second),
        "a busy daemon is left alone"
    );
    waiting.abort();
}
