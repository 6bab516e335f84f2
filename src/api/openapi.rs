//! The OpenAPI document of the REST API, generated from the handlers' own
//! `#[utoipa::path]` annotations: every route is registered here through
//! `utoipa_axum::routes!`, which adds the route to the router and its
//! description to the document at once, so the two cannot drift.

use super::{AppState, ErrorBody, metadata, plugins, rules, streams, system, tables};
use std::sync::Arc;
use utoipa::openapi::security::{Http, HttpAuthScheme, SecurityRequirement, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

/// The document's fixed part; paths come from [`routes`].
#[derive(OpenApi)]
#[openapi(
    info(
        title = "Oort REST API",
        description = "eKuiper-compatible management API of Oort: streams, tables, rules, their status and metrics, plugins."
    ),
    components(schemas(ErrorBody, plugins::PluginKindPath)),
    modifiers(&BearerAuth),
    tags(
        (name = "system", description = "Server information, health and metrics"),
        (name = "streams", description = "Stream definitions"),
        (name = "tables", description = "Table definitions"),
        (name = "rules", description = "Rules and their lifecycle"),
        (name = "metadata", description = "Built-in functions, sources and sinks"),
        (name = "plugins", description = "Installed source, sink and function plugins"),
    )
)]
pub struct ApiDoc;

/// Declares the optional bearer token.
struct BearerAuth;

impl Modify for BearerAuth {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme("bearer", SecurityScheme::Http(Http::new(HttpAuthScheme::Bearer)));
        // Either no token (the default configuration) or the bearer token.
        openapi.security =
            Some(vec![SecurityRequirement::default(), SecurityRequirement::new("bearer", Vec::<String>::new())]);
    }
}

/// Every route, with its OpenAPI description.
pub fn routes() -> OpenApiRouter<Arc<AppState>> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(system::info))
        .routes(routes!(system::ping))
        .routes(routes!(system::metrics))
        .routes(routes!(streams::list, streams::create))
        .routes(routes!(streams::details))
        .routes(routes!(streams::describe, streams::replace, streams::drop))
        .routes(routes!(streams::schema))
        .routes(routes!(tables::list, tables::create))
        .routes(routes!(tables::details))
        .routes(routes!(tables::describe, tables::replace, tables::drop))
        .routes(routes!(tables::schema))
        .routes(routes!(rules::list, rules::create))
        .routes(routes!(rules::validate))
        .routes(routes!(rules::describe, rules::upsert, rules::drop))
        .routes(routes!(rules::start))
        .routes(routes!(rules::stop))
        .routes(routes!(rules::restart))
        .routes(routes!(rules::status))
        .routes(routes!(rules::topo))
        .routes(routes!(rules::explain))
        .routes(routes!(metadata::functions))
        .routes(routes!(metadata::sources))
        .routes(routes!(metadata::sinks))
        .routes(routes!(plugins::list, plugins::install))
        .routes(routes!(plugins::describe, plugins::delete))
}

/// The document alone (for tools and tests).
pub fn document() -> utoipa::openapi::OpenApi {
    routes().split_for_parts().1
}
