//! The pages errand serves at `/ui` and the widget script: the token handover into an
//! HttpOnly cookie, owner isolation, escaping of every task text, the form posts' origin check,
//! the wait page's return-URL guard, and the pages' language (French or English).

use reqwest::header::{COOKIE, LOCATION, SET_COOKIE};
use serde_json::{Value, json};

use crate::api::harness::{APP, Api, id_of};

/// A browser-like client: no redirects followed, the cookie passed by hand.
struct Browser {
    http: reqwest::Client,
    base: String,
    cookie: String,
}

impl Browser {
    /// Hands `token` over as a first visit does; keeps the cookie errand sets.
    async fn signed_in(api: &Api, token: &str) -> Browser {
        let http = errand::run::http::client_builder().build().unwrap();
        let response = http
            .get(format!("{}/ui/tasks?token={token}", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 303);
        let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap().to_owned();
        let cookie = set_cookie.split(';').next().unwrap().to_owned();
        Browser {
            http,
            base: api.base.clone(),
            cookie,
        }
    }

    async fn get(&self, path: &str) -> (u16, String) {
        self.get_in(path, None).await
    }

    /// A GET with `Accept-Language: accept_language`, if given.
    async fn get_in(&self, path: &str, accept_language: Option<&str>) -> (u16, String) {
        let mut request = self
            .http
            .get(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie);
        if let Some(accept_language) = accept_language {
            request = request.header("accept-language", accept_language);
        }
        let response = request.send().await.unwrap();
        (response.status().as_u16(), response.text().await.unwrap())
    }

    async fn post(&self, path: &str, origin: &str) -> reqwest::Response {
        self.http
            .post(format!("{}{path}", self.base))
            .header(COOKIE, &self.cookie)
            .header("origin", origin)
            .send()
            .await
            .unwrap()
    }
}

/// A tracked task of `owner`, started by the application.
async fn running_task(api: &Api, owner: &str, title: &str, context: Value) -> String {
    let id = id_of(
        &api.enqueue(
            json!({"name": "ui.test", "owner": owner, "title": title, "context": context}),
        )
        .await,
    );
    let (status, task) = api
        .post(&format!("/v1/tasks/{id}/start"), APP, json!({}))
        .await;
    assert_eq!(status, 200, "{task}");
    id
}

#[tokio::test]
async fn the_token_is_handed_over_once_into_an_http_only_cookie_for_the_pages_alone() {
    let api = Api::start().await;
    let http = errand::run::http::client_builder().build().unwrap();
    let token = api.token("alice");
    let response = http
        .get(format!("{}/ui/tasks?a=1&token={token}&b=2", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 303);
    assert_eq!(response.headers()[LOCATION], "/ui/tasks?a=1&b=2");
    let set_cookie = response.headers()[SET_COOKIE].to_str().unwrap();
    for attribute in ["HttpOnly", "SameSite=Lax", "Path=/ui"] {
        assert!(set_cookie.contains(attribute), "{set_cookie}");
    }
    let cookie = set_cookie.split(';').next().unwrap();
    let page = http
        .get(format!("{}/ui/tasks", api.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    let no_cookie = http
        .get(format!("{}/ui/tasks", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(no_cookie.status(), 401);
    // The JSON API never takes the cookie.
    let api_call = http
        .get(format!("{}/v1/tasks", api.base))
        .header(COOKIE, cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(api_call.status(), 401);
    for bad in ["not-a-token".to_owned(), api.expired_token("alice")] {
        let refused = http
            .get(format!("{}/ui/tasks?token={bad}", api.base))
            .send()
            .await
            .unwrap();
        assert_eq!(refused.status(), 401);
        assert!(refused.headers().get(SET_COOKIE).is_none());
    }
}

#[tokio::test]
async fn task_text_is_escaped_and_the_traceback_shown_in_a_pre_block() {
    let api = Api::start().await;
    let id = running_task(
        &api,
        "alice",
        "<script>alert('title')</script>",
        json!(null),
    )
    .await;
    let (status, task) = api
        .post(
            &format!("/v1/tasks/{id}/fail"),
            APP,
            json!({"message": "<img src=x onerror=alert(1)>",
                   "detail": "Traceback (most recent call last):\n  File \"<app>\", line 3\nValueError: <b>bad</b>"}),
        )
        .await;
    assert_eq!(status, 200, "{task}");
    let browser = Browser::signed_in(&api, &api.token("alice")).await;
    let (status, page) = browser.get(&format!("/ui/tasks/{id}")).await;
    assert_eq!(status, 200);
    assert!(!page.contains("<script>alert"), "{page}");
    assert!(!page.contains("<img src=x"), "{page}");
    assert!(page.contains("&lt;script&gt;alert(&#39;title&#39;)&lt;/script&gt;"));
    assert!(page.contains(
        "<pre id=\"error-detail\" tabindex=\"0\" aria-label=\"Error detail\">Traceback (most recent call last):\n  File &quot;&lt;app&gt;&quot;, line 3\nValueError: &lt;b&gt;bad&lt;/b&gt;</pre>"
    ), "{page}");
    assert!(page.contains("id=\"retry\"") && page.contains("id=\"dismiss\""));
    let (_, list) = browser.get("/ui/tasks").await;
    assert!(
        list.contains("&lt;img src=x onerror=alert(1)&gt;"),
        "{list}"
    );
    assert!(!list.contains("<img src=x"));
}

#[tokio::test]
async fn a_user_sees_their_own_tasks_only() {
    let api = Api::start().await;
    let alices = running_task(&api, "alice", "Alice's secret report", json!(null)).await;
    let bobs = running_task(&api, "bob", "Bob's report", json!(null)).await;
    let bob = Browser::signed_in(&api, &api.token("bob")).await;
    let (_, list) = bob.get("/ui/tasks").await;
    assert!(list.contains("Bob&#39;s report"), "{list}");
    assert!(!list.contains("Alice"), "{list}");
    for path in [
        format!("/ui/tasks/{alices}"),
        format!("/ui/tasks/{alices}/wait"),
        format!("/ui/tasks/{alices}/status"),
    ] {
        let (status, page) = bob.get(&path).await;
        assert_eq!(status, 404, "{path}");
        assert!(!page.contains("Alice"));
    }
    let response = bob
        .post(&format!("/ui/tasks/{alices}/cancel"), &api.base)
        .await;
    assert_eq!(response.status(), 404);
    let (_, task) = api.get(&format!("/v1/tasks/{alices}"), APP).await;
    assert_eq!(task["state"], "running");
    let (status, _) = bob.get(&format!("/ui/tasks/{bobs}")).await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn buttons_act_from_errands_own_pages_only() {
    let api = Api::start().await;
    let id = running_task(&api, "alice", "Publishing", json!(null)).await;
    let alice = Browser::signed_in(&api, &api.token("alice")).await;
    let refused = alice
        .post(&format!("/ui/tasks/{id}/cancel"), "http://evil.test")
        .await;
    assert_eq!(refused.status(), 403);
    let (_, task) = api.get(&format!("/v1/tasks/{id}"), APP).await;
    assert_eq!(task["state"], "running");
    let done = alice
        .post(&format!("/ui/tasks/{id}/cancel"), &api.base)
        .await;
    assert_eq!(done.status(), 303);
    assert_eq!(done.headers()[LOCATION], format!("/ui/tasks/{id}").as_str());
    let (_, task) = api.get(&format!("/v1/tasks/{id}"), APP).await;
    assert_eq!(task["state"], "cancelled", "{task}");
}

#[tokio::test]
async fn the_wait_page_sends_the_user_on_to_a_relative_or_same_origin_return_url_only() {
    let api = Api::start().await;
    let id = running_task(&api, "alice", "Converting", json!(null)).await;
    let alice = Browser::signed_in(&api, &api.token("alice")).await;
    let (status, page) = alice
        .get(&format!("/ui/tasks/{id}/wait?return=/news"))
        .await;
    assert_eq!(status, 200);
    assert!(
        page.contains(&format!("/ui/tasks/{id}/status?return=/news")),
        "{page}"
    );
    let (_, status_json) = alice
        .get(&format!("/ui/tasks/{id}/status?return=/news"))
        .await;
    let answer: Value = serde_json::from_str(&status_json).unwrap();
    assert_eq!(answer["state"], "running");
    assert_eq!(answer["next"], Value::Null);
    let (status, task) = api
        .post(&format!("/v1/tasks/{id}/complete"), APP, json!({}))
        .await;
    assert_eq!(status, 200, "{task}");
    let host = api.base.trim_start_matches("http://");
    for (asked, expected) in [
        ("/news".to_owned(), "/news".to_owned()),
        (format!("http://{host}/news"), format!("http://{host}/news")),
        ("https://evil.test/".to_owned(), format!("/ui/tasks/{id}")),
        ("//evil.test/".to_owned(), format!("/ui/tasks/{id}")),
    ] {
        let query: String = url_encode(&asked);
        let (_, body) = alice
            .get(&format!("/ui/tasks/{id}/status?return={query}"))
            .await;
        let answer: Value = serde_json::from_str(&body).unwrap();
        assert_eq!(answer["next"], expected.as_str(), "return={asked}");
    }
}

#[tokio::test]
async fn the_pages_speak_french_when_asked_and_english_by_default() {
    let api = Api::start().await;
    let id = running_task(&api, "alice", "<b>Rapport</b> & co", json!(null)).await;
    let (status, task) = api
        .post(
            &format!("/v1/tasks/{id}/fail"),
            APP,
            json!({"message": "<i>disk full</i>", "detail": "Traceback: <oops>"}),
        )
        .await;
    assert_eq!(status, 200, "{task}");
    let alice = Browser::signed_in(&api, &api.token("alice")).await;
    let details = format!("/ui/tasks/{id}");
    // The task's own text, escaped and never translated, in either language.
    let task_text = |page: &str| {
        assert!(
            page.contains("&lt;b&gt;Rapport&lt;/b&gt; &amp; co"),
            "{page}"
        );
        assert!(page.contains("&lt;i&gt;disk full&lt;/i&gt;"), "{page}");
        assert!(
            !page.contains("<b>Rapport") && !page.contains("<i>disk"),
            "{page}"
        );
    };

    // English by default, and for a language the pages do not speak.
    for accept in [None, Some("de-DE,de;q=0.9")] {
        let (status, page) = alice.get_in(&details, accept).await;
        assert_eq!(status, 200);
        assert!(page.contains("<html lang=\"en\">"), "{page}");
        for words in [
            "What went wrong",
            ">Retry</button>",
            ">failed</dd>",
            "← Your tasks",
        ] {
            assert!(page.contains(words), "{words}: {page}");
        }
        task_text(&page);
    }

    // French by Accept-Language; the links carry no `lang`, the header is enough.
    let (status, page) = alice.get_in(&details, Some("fr-FR,fr;q=0.9")).await;
    assert_eq!(status, 200);
    assert!(page.contains("<html lang=\"fr\">"), "{page}");
    for words in [
        "Ce qui n’a pas marché",
        ">Réessayer</button>",
        ">Écarter</button>",
        ">en échec</dd>",
        "Essais</dt><dd>1 sur",
        "aria-label=\"Détail de l’erreur\"",
        "<a href=\"/ui/tasks\">← Vos tâches</a>",
        &format!("action=\"/ui/tasks/{id}/retry\""),
    ] {
        assert!(page.contains(words), "{words}: {page}");
    }
    assert!(!page.contains("What went wrong") && !page.contains(">Retry<"));
    task_text(&page);
    let (_, list) = alice.get_in("/ui/tasks", Some("en;q=0.5, fr;q=0.8")).await;
    assert!(list.contains("<h1>Vos tâches</h1>") && list.contains("<h2>En échec</h2>"));
    task_text(&list);

    // French by `?lang=fr`, over the header, and kept in the links and the form posts.
    let (status, list) = alice.get_in("/ui/tasks?lang=fr", Some("en")).await;
    assert_eq!(status, 200);
    assert!(list.contains("<html lang=\"fr\">"), "{list}");
    assert!(list.contains("<th>Tâche</th><th>État</th>"), "{list}");
    assert!(
        list.contains(&format!("href=\"/ui/tasks/{id}?lang=fr\"")),
        "{list}"
    );
    task_text(&list);
    let (_, page) = alice.get(&format!("{details}?lang=fr")).await;
    assert!(page.contains("<a href=\"/ui/tasks?lang=fr\">← Vos tâches</a>"));
    assert!(page.contains(&format!("action=\"/ui/tasks/{id}/dismiss?lang=fr\"")));
    let (_, page) = alice
        .get_in(&format!("{details}?lang=en"), Some("fr"))
        .await;
    assert!(page.contains("<html lang=\"en\">") && page.contains("What went wrong"));
    let dismissed = alice
        .post(&format!("{details}/dismiss?lang=fr"), &api.base)
        .await;
    assert_eq!(dismissed.status(), 303);
    assert_eq!(
        dismissed.headers()[LOCATION],
        format!("{details}?lang=fr").as_str()
    );
    let (_, page) = alice.get(&format!("{details}?lang=fr")).await;
    assert!(page.contains("en échec (écartée)"), "{page}");

    // The wait page, its script's words included.
    let (status, wait) = alice
        .get(&format!("{details}/wait?lang=fr&return=/news"))
        .await;
    assert_eq!(status, 200);
    assert!(wait.contains("<html lang=\"fr\">"), "{wait}");
    let expected: [&str; 6] = [
        &format!("data-status-url=\"/ui/tasks/{id}/status?lang=fr&amp;return=/news\""),
        &format!("<a href=\"/ui/tasks/{id}?lang=fr\">Détails de cette tâche</a>"),
        "aria-live=\"polite\">Cette tâche a échoué.</p>",
        "errand ne répond pas",
        "&quot;running&quot;:&quot;En cours…&quot;",
        "&quot;give_input&quot;:&quot;Donner votre réponse&quot;",
    ];
    for words in expected {
        assert!(wait.contains(words), "{words}: {wait}");
    }
    assert!(!wait.contains("This task failed") && !wait.contains("Working…"));
    let (_, wait) = alice.get(&format!("{details}/wait")).await;
    assert!(wait.contains("Details of this task") && wait.contains("This task failed."));

    // The error pages.
    let (status, missing) = alice
        .get_in(
            "/ui/tasks/00000000-0000-0000-0000-000000000000",
            Some("fr-CA"),
        )
        .await;
    assert_eq!(status, 404);
    assert!(missing.contains("<html lang=\"fr\">") && missing.contains("Tâche introuvable"));
    let (_, missing) = alice.get("/ui/tasks/nope").await;
    assert!(missing.contains("Task not found"), "{missing}");
    let anonymous = errand::run::http::client_builder()
        .build()
        .unwrap()
        .get(format!("{}/ui/tasks?lang=fr", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(anonymous.status(), 401);
    assert!(
        anonymous
            .text()
            .await
            .unwrap()
            .contains("Connexion nécessaire")
    );
}

#[tokio::test]
async fn the_widget_is_served_as_javascript_with_a_cache_header() {
    let api = Api::start().await;
    let response = errand::run::http::client_builder()
        .build()
        .unwrap()
        .get(format!("{}/widget/errand.js", api.base))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["content-type"],
        "text/javascript; charset=utf-8"
    );
    assert!(response.headers().contains_key("cache-control"));
    let script = response.text().await.unwrap();
    assert!(script.contains("customElements.define(\"errand-tasks\""));
}

fn url_encode(value: &str) -> String {
    value
        .bytes()
        .map(|byte| match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' => {
                (byte as char).to_string()
            }
            _ => format!("%{byte:02X}"),
        })
        .collect()
}
