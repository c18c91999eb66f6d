//! The generator on small descriptions: one per pagination style, dialect and auth
//! scheme. Every generated text is parsed back by the real spec loader, and the checks
//! read the resulting [`Spec`], so a spec that only looks right does not pass.

use super::*;
use crate::adapters::spec::{
    parse_spec, AuthKind, PagingStrategy, ParamValue, Parsed, Spec, StopRule,
};

const PAGING_STYLES: &str = include_str!("../../tests/fixtures/openapi/paging_styles.yaml");

fn gen(text: &str) -> Generated {
    generate(text.as_bytes(), &Options::default()).unwrap_or_else(|e| panic!("{e}"))
}

fn spec_of(g: &Generated) -> Spec {
    match parse_spec("generated", &g.yaml) {
        Ok(Parsed::Spec(s)) => *s,
        other => panic!("not a spec: {other:?}\n{}", g.yaml),
    }
}

fn pager(spec: &Spec, table: &str) -> (PagingStrategy, Option<String>, Option<u64>, StopRule) {
    let t = spec.table(table).unwrap_or_else(|| {
        panic!(
            "no table {table}: {:?}",
            spec.tables.iter().map(|t| &t.name).collect::<Vec<_>>()
        )
    });
    let p = t
        .paging
        .clone()
        .unwrap_or_else(|| panic!("{table} has no pager"));
    (p.strategy, p.count_param, p.page_size, p.stop)
}

/// The `# guess:` line just above the first line containing `needle`.
fn guess_before(yaml: &str, needle: &str) -> String {
    let lines: Vec<&str> = yaml.lines().collect();
    let at = lines
        .iter()
        .position(|l| l.contains(needle))
        .unwrap_or_else(|| panic!("no {needle:?} in\n{yaml}"));
    // The comment block above the key, or above the `supports_paging:`/`paging:` lines
    // that open the block the key is in.
    let above = lines[..at]
        .iter()
        .rev()
        .skip_while(|l| {
            let t = l.trim_start();
            t.starts_with("paging:") || t.starts_with("supports_paging:")
        })
        .take_while(|l| l.trim_start().starts_with('#'))
        .find(|l| l.contains("# guess:"));
    above.map(|s| s.to_string()).unwrap_or_default()
}

#[test]
fn every_pagination_style_is_detected() {
    let g = gen(PAGING_STYLES);
    let spec = spec_of(&g);
    assert_eq!(spec.name, "paging");
    assert_eq!(spec.base_url, "https://api.paging.example/v1");
    assert_eq!(
        g.tables,
        ["users", "posts", "events", "messages", "contacts", "orders", "invoices"]
    );

    // page + per_page, the page size from the parameter's maximum.
    match pager(&spec, "users") {
        (
            PagingStrategy::PageAndCount {
                page_param,
                first_page,
            },
            Some(c),
            Some(50),
            StopRule::ShortPage,
        ) => {
            assert_eq!(
                (page_param.as_str(), first_page, c.as_str()),
                ("page", 1, "per_page")
            );
        }
        other => panic!("users: {other:?}"),
    }
    // offset + limit, the size read from the description: stop on an empty page only.
    match pager(&spec, "posts") {
        (
            PagingStrategy::OffsetAndCount { offset_param },
            Some(c),
            Some(20),
            StopRule::EmptyPage,
        ) => {
            assert_eq!((offset_param.as_str(), c.as_str()), ("offset", "limit"));
        }
        other => panic!("posts: {other:?}"),
    }
    // starting_after = the last record's id while has_more (Stripe).
    match pager(&spec, "events") {
        (
            PagingStrategy::PagerToken {
                token_param,
                pager_token_path,
            },
            Some(c),
            Some(100),
            _,
        ) => {
            assert_eq!(token_param, "starting_after");
            assert_eq!(pager_token_path.as_str(), "$[?$.has_more == true][-1:].id");
            assert_eq!(c, "limit");
        }
        other => panic!("events: {other:?}"),
    }
    // page_token ← next_page_token.
    match pager(&spec, "messages") {
        (
            PagingStrategy::PagerToken {
                token_param,
                pager_token_path,
            },
            Some(c),
            Some(25),
            _,
        ) => {
            assert_eq!(
                (token_param.as_str(), pager_token_path.as_str(), c.as_str()),
                ("page_token", "$.next_page_token", "page_size")
            );
        }
        other => panic!("messages: {other:?}"),
    }
    // after ← paging.next.after (HubSpot).
    match pager(&spec, "contacts") {
        (
            PagingStrategy::PagerToken {
                token_param,
                pager_token_path,
            },
            _,
            _,
            _,
        ) => {
            assert_eq!(
                (token_param.as_str(), pager_token_path.as_str()),
                ("after", "$.paging.next.after")
            );
        }
        other => panic!("contacts: {other:?}"),
    }
    // A next-URL field beats offset/limit.
    match pager(&spec, "orders") {
        (PagingStrategy::NextLink { pager_link_path }, Some(c), Some(200), _) => {
            assert_eq!((pager_link_path.as_str(), c.as_str()), ("$.next", "limit"));
        }
        other => panic!("orders: {other:?}"),
    }
    // A documented Link header beats page/per_page.
    match pager(&spec, "invoices") {
        (PagingStrategy::LinkHeader, Some(c), Some(50), _) => assert_eq!(c, "per_page"),
        other => panic!("invoices: {other:?}"),
    }
    // Every pager decision is marked.
    assert!(guess_before(&g.yaml, "strategy: offsetAndCount").contains("description of `limit`"));
    assert!(guess_before(&g.yaml, "strategy: linkHeader").contains("Link header"));
}

#[test]
fn a_path_parameter_is_fed_by_the_parent_that_lists_it() {
    let g = gen(PAGING_STYLES);
    let spec = spec_of(&g);
    let posts = spec.table("posts").unwrap();
    assert_eq!(posts.path, "/users/{user_id}/posts");
    assert_eq!(posts.depends_on, ["users"]);
    assert_eq!(posts.params[0].names, ["user_id"]);
    assert_eq!(
        posts.params[0].value,
        ParamValue::Sql(r#"select distinct "id" from "users""#.to_string())
    );
    assert_eq!(posts.copy_params_to_output, ["user_id"]);
    assert_eq!(
        posts.result_body_path.as_deref(),
        Some(&["data".to_string()][..])
    );
    assert!(guess_before(&g.yaml, "user_id: 'sql@")
        .contains("`user_id` is the `id` of each record of /users"));
    // Keys from id-like fields.
    assert_eq!(spec.table("users").unwrap().key_columns, ["id"]);
    assert_eq!(spec.table("messages").unwrap().key_columns, ["uuid"]);
    assert!(guess_before(&g.yaml, "key_column: uuid").contains("uuid"));
}

#[test]
fn operations_that_cannot_be_tables_are_listed_with_the_reason() {
    let g = gen(PAGING_STYLES);
    assert_eq!(g.skipped, 4);
    assert_eq!(g.not_get, 1);
    let tail = g
        .yaml
        .split("# GET operations that are not tables")
        .nth(1)
        .unwrap();
    for (op, why) in [
        (
            "GET /search",
            "the required query parameter `q` has no default",
        ),
        (
            "GET /users/{user_id}",
            "returns a single object, not a list",
        ),
        (
            "GET /reports/{report_id}/rows",
            "no list operation GET /reports gives the values of `report_id`",
        ),
        ("GET /status", "answers text/plain, not JSON"),
    ] {
        assert!(
            tail.lines().any(|l| l.contains(&format!("{op}: {why}"))),
            "{op}: {why} not in {tail}"
        );
    }
}

#[test]
fn bearer_auth_descriptions_and_help() {
    let g = gen(PAGING_STYLES);
    let spec = spec_of(&g);
    assert_eq!(spec.auth.kind, AuthKind::Bearer);
    assert_eq!(spec.auth.params[0].0, "token");
    assert!(spec.auth.params[0].1.contains("opaque token"));
    assert_eq!(
        spec.table("users").unwrap().description.as_deref(),
        Some("List users")
    );
    let help = spec.help.unwrap();
    assert!(
        help.starts_with("Paging Styles Example API 1.0.0"),
        "{help}"
    );
    assert!(help.contains("token: $PAGING_TOKEN"), "{help}");
    assert!(g.yaml.contains("# GET /users (listUsers)"));
}

#[test]
fn names_are_snake_case_unique_and_stable() {
    assert_eq!(names::snake("workflowRuns"), "workflow_runs");
    assert_eq!(names::snake("conversations.list"), "conversations_list");
    assert_eq!(names::snake("page[size]"), "page_size");
    assert_eq!(names::snake("PokéAPI"), "poke_api");
    assert_eq!(names::snake("2fa-keys"), "t_2fa_keys");
    assert_eq!(names::snake("--"), "t");
    let paths = [
        "/issues",
        "/repos/{owner}/{repo}/issues",
        "/orgs/{org}/issues",
        "/api/v2/ability/",
        "/v1/users",
        "/v2/users",
        "/things/{a}",
        "/things/{b}",
        "/2010-04-01/Accounts/{Sid}/Calls.json",
    ];
    let names = names::table_names(&paths);
    assert_eq!(
        names,
        [
            "issues",
            "repos_issues",
            "orgs_issues",
            "ability",
            "v1_users",
            "v2_users",
            "things",
            "things_2",
            "calls"
        ]
    );
    // The same input gives the same names.
    assert_eq!(names, names::table_names(&paths));
    assert_eq!(
        names::connector_name(Some("api.github.com"), None),
        "github"
    );
    assert_eq!(
        names::connector_name(Some("127.0.0.1"), Some("Acme Helpdesk API")),
        "acme_helpdesk"
    );
}

#[test]
fn swagger_2_with_an_api_key_in_the_query_and_examples() {
    let doc = r##"{
      "swagger": "2.0",
      "info": {"title": "Old API", "version": "1"},
      "host": "old.example.com", "basePath": "/api", "schemes": ["http", "https"],
      "securityDefinitions": {"key": {"type": "apiKey", "in": "query", "name": "apikey"}},
      "security": [{"key": []}],
      "paths": {
        "/widgets.list": {"get": {
          "parameters": [
            {"name": "cursor", "in": "query", "type": "string"},
            {"name": "limit", "in": "query", "type": "integer", "description": "Must be an integer no larger than 1000."},
            {"name": "kind", "in": "query", "type": "string", "required": true, "enum": ["a", "b"]}
          ],
          "responses": {"200": {"description": "ok",
            "schema": {"type": "object", "properties": {
              "ok": {"type": "boolean"},
              "widgets": {"type": "array", "items": {"$ref": "#/definitions/widget"}},
              "response_metadata": {"type": "object", "properties": {"next_cursor": {"type": "string"}}}}},
            "examples": {"application/json": {"ok": true, "widgets": [{"id": "W1"}]}}}}
        }},
        "/body": {"post": {"responses": {"200": {"description": "ok"}}}}
      },
      "definitions": {"widget": {"type": "object", "properties": {"id": {"type": "string"}}}}
    }"##;
    let g = gen(doc);
    let spec = spec_of(&g);
    assert_eq!(spec.name, "example");
    assert_eq!(spec.base_url, "https://old.example.com/api");
    assert_eq!(spec.auth.kind, AuthKind::Params);
    assert_eq!(spec.auth.params[0].0, "apikey");
    let t = spec.table("widgets_list").unwrap();
    match pager(&spec, "widgets_list") {
        (
            PagingStrategy::PagerToken {
                token_param,
                pager_token_path,
            },
            Some(c),
            Some(1000),
            _,
        ) => {
            assert_eq!(
                (token_param.as_str(), pager_token_path.as_str(), c.as_str()),
                ("cursor", "$.response_metadata.next_cursor", "limit")
            );
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(t.params[0].names, ["kind"]);
    assert_eq!(t.params[0].value, ParamValue::Scalar("a".into()));
    assert!(guess_before(&g.yaml, "kind: a").contains("first allowed value"));
    assert_eq!(g.not_get, 1);
}

#[test]
fn openapi_3_1_type_lists_server_variables_and_oauth_client_credentials() {
    let doc = r#"
openapi: 3.1.0
info: {title: Regional API, version: '2'}
servers:
  - url: https://{region}.regional.example/api
    variables:
      region: {default: eu, enum: [eu, us]}
components:
  securitySchemes:
    oauth:
      type: oauth2
      flows:
        clientCredentials:
          tokenUrl: /oauth/token
          scopes: {read: read things}
  schemas:
    Thing:
      type: [object, 'null']
      properties:
        key: {type: [string, 'null']}
        parent: {$ref: '#/components/schemas/Thing'}
security:
  - oauth: [read]
paths:
  /things:
    get:
      responses:
        '200':
          description: ok
          content:
            application/json:
              schema:
                type: [object, 'null']
                properties:
                  items: {type: [array, 'null'], items: {$ref: '#/components/schemas/Thing'}}
"#;
    let g = gen(doc);
    let spec = spec_of(&g);
    assert_eq!(spec.name, "regional");
    assert_eq!(spec.base_url, "https://${region}.regional.example/api");
    assert_eq!(
        spec.auth.defaults.get("region").map(String::as_str),
        Some("eu")
    );
    assert_eq!(spec.auth.kind, AuthKind::OAuth2);
    assert_eq!(
        spec.auth.defaults.get("token_url").map(String::as_str),
        Some("https://${region}.regional.example/oauth/token")
    );
    assert_eq!(
        spec.auth.defaults.get("scopes").map(String::as_str),
        Some("read")
    );
    let t = spec.table("things").unwrap();
    assert_eq!(
        t.result_body_path.as_deref(),
        Some(&["items".to_string()][..])
    );
    assert_eq!(t.key_columns, ["key"]);
}

#[test]
fn api_keys_in_headers_use_a_header_template() {
    let doc = r#"{"openapi": "3.0.0", "info": {"title": "T", "version": "1"},
      "servers": [{"url": "https://h.example"}],
      "components": {"securitySchemes": {"k": {"type": "apiKey", "in": "header", "name": "X-Api-Key"}}},
      "paths": {"/a": {"get": {"responses": {"200": {"description": "", "content": {"application/json": {"schema": {"type": "array", "items": {"type": "object"}}}}}}}}}}"#;
    let g = gen(doc);
    let spec = spec_of(&g);
    assert_eq!(spec.auth.kind, AuthKind::Headers);
    assert_eq!(spec.auth.params[0].0, "api_key");
    assert_eq!(
        spec.auth.headers,
        [("X-Api-Key".to_string(), "${api_key}".to_string())]
    );
    // No requirement declared: the first scheme is a guess, and said so.
    assert!(g
        .yaml
        .contains("# guess: no `security` requirement is declared"));
}

#[test]
fn bad_input_gets_one_clear_error() {
    let err = |text: &str, opts: &Options| generate(text.as_bytes(), opts).unwrap_err().to_string();
    let d = Options::default();
    assert_eq!(
        err("a: [", &d).split(':').next(),
        Some("not valid JSON or YAML")
    );
    assert!(err("{\"a\": 1}", &d).contains("neither an `openapi` nor a `swagger` version key"));
    assert!(err("openapi: 2.5.0\npaths: {}", &d).contains("OpenAPI version 2.5.0 is not supported"));
    let relative =
        "openapi: 3.0.0\ninfo: {title: x, version: '1'}\nservers: [{url: /v1}]\npaths: {}";
    assert_eq!(
        err(relative, &d),
        "the server URL '/v1' is relative; give the API's address with --base-url URL"
    );
    let no_lists = "openapi: 3.0.0\ninfo: {title: x, version: '1'}\nservers: [{url: 'https://x.example'}]\npaths:\n  /one:\n    get:\n      responses: {'200': {description: ok, content: {application/json: {schema: {type: object, properties: {a: {type: string}}}}}}}";
    assert!(err(no_lists, &d).starts_with("no table can be made: none of its 1 GET operations returns a list (e.g. GET /one: returns a single object, not a list)"));
    let bad_name = Options {
        name: Some("1st".into()),
        ..Default::default()
    };
    assert!(err(PAGING_STYLES, &bad_name).contains("'1st' is not a valid connector name"));
    // --base-url replaces a relative server; --name the derived name.
    let opts = Options {
        name: Some("mine".into()),
        base_url: Some("http://127.0.0.1:9/v1/".into()),
        ..Default::default()
    };
    let g = generate(relative.replace("paths: {}", "paths:\n  /l:\n    get:\n      responses: {'200': {description: ok, content: {application/json: {schema: {type: array}}}}}").as_bytes(), &opts).unwrap();
    let spec = spec_of(&g);
    assert_eq!(
        (spec.name.as_str(), spec.base_url.as_str()),
        ("mine", "http://127.0.0.1:9/v1")
    );
}

#[test]
fn reference_cycles_and_gzip_input_are_handled() {
    let doc = r##"{"openapi": "3.0.0", "info": {"title": "C", "version": "1"},
      "servers": [{"url": "https://c.example"}],
      "components": {"schemas": {
        "A": {"$ref": "#/components/schemas/B"}, "B": {"$ref": "#/components/schemas/A"},
        "Node": {"type": "object", "allOf": [{"$ref": "#/components/schemas/Node"}], "properties": {"id": {"type": "integer"}, "kids": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}}},
      "paths": {
        "/loop": {"get": {"responses": {"200": {"description": "", "content": {"application/json": {"schema": {"$ref": "#/components/schemas/A"}}}}}}},
        "/nodes": {"get": {"responses": {"200": {"description": "", "content": {"application/json": {"schema": {"type": "array", "items": {"$ref": "#/components/schemas/Node"}}}}}}}},
        "/ext": {"get": {"responses": {"200": {"description": "", "content": {"application/json": {"schema": {"$ref": "other.yaml#/List"}}}}}}}}}"##;
    let mut gz = Vec::new();
    {
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(&mut gz, flate2::Compression::fast());
        enc.write_all(doc.as_bytes()).unwrap();
        enc.finish().unwrap();
    }
    let g = generate(&gz, &Options::default()).unwrap();
    assert_eq!(g.tables, ["nodes"]);
    assert!(g
        .yaml
        .contains("References to other files were not followed: other.yaml#/List"));
}

#[test]
fn yaml_scalars_round_trip() {
    for s in [
        "plain",
        "/users/{id}/posts",
        "yes",
        "123",
        "2010-04-01",
        "it's: a # test",
        "sql@(select distinct \"id\" from \"users\")",
        "line\nbreak",
        "tab\there",
        "@odata.nextLink",
        "https://api.example.com:8443/v1?a=b&c=%20",
        "key:",
        "a:b",
        "List users (the first page)",
        "Pokémon: the list",
        "ends with space ",
        "x #y",
        "on",
        "- dash",
        "",
    ] {
        let text = format!("k: {}\nl: [{}, x]\n", emit::scalar(s), emit::flow_scalar(s));
        let v: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(v["k"].as_str(), Some(s), "{text}");
        assert_eq!(v["l"][0].as_str(), Some(s), "{text}");
    }
}

const THINGS: &str = r#"
openapi: 3.0.0
info: {title: Things, version: '1'}
servers: [{url: 'https://things.example'}]
components:
  schemas:
    Owner:
      type: object
      required: [login]
      properties: {login: {type: string}, id: {type: integer}}
    Repo:
      type: object
      required: [id, name, owner]
      properties:
        id: {type: integer}
        name: {type: string}
        owner: {$ref: '#/components/schemas/Owner'}
        private: {type: boolean}
    FullRepo:
      allOf:
        - $ref: '#/components/schemas/Repo'
        - {type: object, properties: {size: {type: integer}}}
    Issue:
      type: object
      required: [id, number]
      properties:
        id: {type: integer}
        number: {type: integer}
        labels: {type: array, items: {type: string}}
paths:
  /user/repos:
    get:
      responses: {'200': {description: ok, content: {application/json: {schema: {type: array, items: {$ref: '#/components/schemas/Repo'}}}}}}
  /repos/{owner}/{repo}:
    get:
      parameters: [{name: owner, in: path, required: true}, {name: repo, in: path, required: true}]
      responses: {'200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/FullRepo'}}}}}
  /repos/{owner}/{repo}/issues:
    get:
      responses: {'200': {description: ok, content: {application/json: {schema: {type: array, items: {$ref: '#/components/schemas/Issue'}}}}}}
  /repos/{owner}/{repo}/issues/{issue_number}/comments:
    get:
      responses: {'200': {description: ok, content: {application/json: {schema: {type: array, items: {type: object, properties: {id: {type: integer}}}}}}}}
  /issue/{id}:
    get:
      responses: {'200': {description: ok, content: {application/json: {schema: {$ref: '#/components/schemas/Issue'}}}}}
  /number:
    get:
      responses: {'200': {description: ok, content: {application/json: {schema: {type: array, items: {type: object}}}}}}
"#;

#[test]
fn parameters_that_name_a_thing_read_a_list_of_such_things() {
    let g = gen(THINGS);
    let spec = spec_of(&g);
    assert_eq!(g.tables, ["repos", "issues", "comments", "number_list"]);
    let issues = spec.table("issues").unwrap();
    assert_eq!(issues.params[0].names, ["owner", "repo"]);
    assert_eq!(
        issues.params[0].value,
        ParamValue::Sql(r#"select distinct "owner_login", "name" from "repos""#.to_string())
    );
    assert_eq!(issues.depends_on, ["repos"]);
    assert!(guess_before(&g.yaml, "owner,repo: 'sql@")
        .contains("/repos/{owner}/{repo} names one of the things GET /user/repos lists"));
    // The grandchild reads the copied owner and repo, and the issue's number.
    let comments = spec.table("comments").unwrap();
    assert_eq!(
        comments.params[0].value,
        ParamValue::Sql(r#"select distinct "owner", "repo", "number" from "issues""#.to_string())
    );
    // A table called `number` would read as a dependency of that query: renamed.
    assert_eq!(comments.depends_on, ["issues"]);
    assert!(g.yaml.contains(
        "#   GET /issue/{id}: returns a single object (it has an `id`; lists labels), not a list"
    ));
}
