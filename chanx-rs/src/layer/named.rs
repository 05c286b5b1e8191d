//! Named layers from configuration: `name=url` pairs, as an app reads them from an environment
//! variable or a config file, turned into the layers a [`Router`](crate::Router) holds by name
//! ([`Router::with_named_layers`](crate::Router::with_named_layers)).

use super::{Layer, LayerError, RedisLayer};

/// Why a layer configuration was refused ([`from_config`], [`from_urls`]).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LayerConfigError {
    /// An entry of [`from_config`] is not `NAME=URL`.
    #[error("layer entry {0:?} is not NAME=URL (as in \"jobs=redis://127.0.0.1:6379?prefix=jobs\")")]
    Syntax(String),
    /// A layer name must be 1–64 characters of `A-Z a-z 0-9 . _ -`.
    #[error("invalid layer name {0:?}: use 1-64 characters of A-Z, a-z, 0-9, '.', '_' and '-'")]
    InvalidName(String),
    /// Two entries have one name.
    #[error("the layer {0:?} is configured twice")]
    DuplicateName(String),
    /// A parameter of a URL's query has a value that is not valid for it.
    #[error("layer {name:?}: {parameter}={value:?} is not valid ({expected})")]
    InvalidParameter {
        /// The layer's name.
        name: String,
        /// The query parameter.
        parameter: &'static str,
        /// Its value.
        value: String,
        /// What it takes.
        expected: &'static str,
    },
    /// The layer could not be built (an invalid Redis URL, say).
    #[error("layer {name:?}: {source}")]
    Layer {
        /// The layer's name.
        name: String,
        /// What failed.
        #[source]
        source: LayerError,
    },
}

/// Layers by name from `name=url` pairs, for [`Router::with_named_layers`](crate::Router::with_named_layers):
///
/// - `memory` (or an empty URL) is a new [`MemoryLayer`](super::MemoryLayer);
/// - a Redis URL (`redis://`, `rediss://`, `unix://`…) is a [`RedisLayer`] on it, with two optional
///   query parameters of its own, taken out before the URL reaches the Redis client: `prefix`
///   (the key prefix, so that several layers share one Redis as channels_redis's `prefix` does;
///   every process sharing a layer uses the same one) and `capacity` (messages waiting per
///   connection, [`RedisLayerBuilder::capacity`](super::RedisLayerBuilder::capacity)). For shards and
///   the other settings, build the layer with [`RedisLayer::builder`] instead.
///
/// The name [`DEFAULT_LAYER`](super::DEFAULT_LAYER) (`default`) sets the router's default layer.
/// Nothing connects here: a Redis layer connects when first used.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), chanx::layer::LayerConfigError> {
/// use std::collections::BTreeMap;
/// // From a config file's table, say.
/// let urls = BTreeMap::from([("chat", "redis://127.0.0.1:6379/0?prefix=chat"), ("jobs", "memory")]);
/// let layers = chanx::layer::from_urls(urls)?;
/// let router = chanx::Router::new().with_named_layers(layers);
/// assert_eq!(router.layer_names(), ["default", "chat", "jobs"]);
/// # Ok(()) }
/// ```
pub fn from_urls<N, U>(urls: impl IntoIterator<Item = (N, U)>) -> Result<Vec<(String, Layer)>, LayerConfigError>
where
    N: Into<String>,
    U: AsRef<str>,
{
    let mut layers: Vec<(String, Layer)> = Vec::new();
    for (name, url) in urls {
        let name = name.into();
        if !valid_name(&name) {
            return Err(LayerConfigError::InvalidName(name));
        }
        if layers.iter().any(|(existing, _)| *existing == name) {
            return Err(LayerConfigError::DuplicateName(name));
        }
        let layer = build(&name, url.as_ref().trim())?;
        layers.push((name, layer));
    }
    Ok(layers)
}

/// Layers by name from one line of text, `name=url` entries separated by commas or whitespace,
/// as [`from_urls`] reads them: what an app reads from an environment variable.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), chanx::layer::LayerConfigError> {
/// // CHANX_LAYERS="default=redis://127.0.0.1:6379?prefix=app, jobs=redis://127.0.0.1:6379?prefix=jobs"
/// let config = std::env::var("CHANX_LAYERS").unwrap_or_else(|_| "default=memory jobs=memory".into());
/// let router = chanx::Router::new().with_named_layers(chanx::layer::from_config(&config)?);
/// assert!(router.named_layer("jobs").is_some());
///
/// assert!(matches!(chanx::layer::from_config("jobs"), Err(chanx::layer::LayerConfigError::Syntax(_))));
/// # Ok(()) }
/// ```
pub fn from_config(config: &str) -> Result<Vec<(String, Layer)>, LayerConfigError> {
    let entries = config.split(|c: char| c == ',' || c.is_whitespace()).filter(|entry| !entry.is_empty());
    let pairs = entries
        .map(|entry| entry.split_once('=').ok_or_else(|| LayerConfigError::Syntax(entry.to_owned())))
        .collect::<Result<Vec<_>, _>>()?;
    from_urls(pairs)
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

fn build(name: &str, url: &str) -> Result<Layer, LayerConfigError> {
    if url.is_empty() || url == "memory" {
        return Ok(Layer::memory());
    }
    let (base, query) = url.split_once('?').unwrap_or((url, ""));
    let mut prefix = None;
    let mut capacity = None;
    let mut rest = form_urlencoded::Serializer::new(String::new());
    for (key, value) in form_urlencoded::parse(query.as_bytes()) {
        match &*key {
            "prefix" => prefix = Some(value.into_owned()),
            "capacity" => {
                let parsed = value.parse::<usize>().ok().filter(|&c| c > 0);
                capacity = Some(parsed.ok_or_else(|| LayerConfigError::InvalidParameter {
                    name: name.to_owned(),
                    parameter: "capacity",
                    value: value.into_owned(),
                    expected: "a whole number of messages, at least 1",
                })?);
            }
            _ => {
                rest.append_pair(&key, &value);
            }
        }
    }
    let rest = rest.finish();
    let url = if rest.is_empty() { base.to_owned() } else { format!("{base}?{rest}") };
    let mut builder = RedisLayer::builder([url]);
    if let Some(prefix) = prefix {
        builder = builder.prefix(prefix);
    }
    if let Some(capacity) = capacity {
        builder = builder.capacity(capacity);
    }
    let layer = builder.build().map_err(|source| LayerConfigError::Layer { name: name.to_owned(), source })?;
    Ok(Layer::new(layer))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn names_and_urls_are_checked() {
        let err = |config: &str| from_config(config).map(|_| ()).expect_err(config);
        assert!(matches!(err("jobs"), LayerConfigError::Syntax(entry) if entry == "jobs"));
        assert!(matches!(err("=memory"), LayerConfigError::InvalidName(name) if name.is_empty()));
        assert!(matches!(err("a b=memory"), LayerConfigError::Syntax(entry) if entry == "a"));
        assert!(matches!(err("jobs=memory,jobs=memory"), LayerConfigError::DuplicateName(name) if name == "jobs"));
        assert!(matches!(
            err("jobs=redis://127.0.0.1?capacity=0"),
            LayerConfigError::InvalidParameter { parameter: "capacity", .. }
        ));
        assert!(matches!(err("jobs=http://nowhere"), LayerConfigError::Layer { name, .. } if name == "jobs"));
        let names: Vec<String> =
            from_config(" chat=redis://127.0.0.1:6379/0?prefix=chat&capacity=10,\n jobs=memory default=")
                .expect("valid")
                .into_iter()
                .map(|(name, _)| name)
                .collect();
        assert_eq!(names, ["chat", "jobs", "default"]);
    }
}
