//! The OpenAPI document lists every route the router has, and nothing else.

use std::collections::BTreeSet;

use errand::api::{ROUTES, document};

use super::harness::Api;

#[tokio::test]
async fn the_document_lists_exactly_the_routes_of_the_router() {
    let doc = serde_json::to_value(document()).unwrap();
    assert_eq!(doc["openapi"], "3.1.0");
    let mut documented = BTreeSet::new();
    for (path, item) in doc["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            documented.insert((method.to_uppercase(), path.clone()));
        }
    }
    let routed: BTreeSet<(String, String)> = ROUTES
        .iter()
        .map(|route| (route.method.to_owned(), route.path.to_owned()))
        .collect();
    assert_eq!(documented, routed);

    // And the router answers each of them (not with its 404 or 405 of an unknown route).
    let api = Api::start().await;
    for route in ROUTES {
        let path = route
            .path
            .replace("{id}", &uuid::Uuid::now_v7().to_string())
            .replace("{name}", "default");
        let method = reqwest::Method::from_bytes(route.method.as_bytes()).unwrap();
        let (status, answer) = api.call(method, &path, "", None).await;
        let code = answer["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned();
        assert!(
            code != "method_not_allowed"
                && !(status == 404
                    && answer["error"]["message"]
                        .as_str()
                        .unwrap_or_default()
                        .starts_with("no route")),
            "{} {path}: {status} {answer}",
            route.method
        );
    }
    let (status, served) = api.get("/v1/openapi.json", "").await;
    assert_eq!(status, 200);
    assert_eq!(served, doc, "the document served is the one generated");
}
