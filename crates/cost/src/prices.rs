//! The dated price table (`prices/<region>.toml`, embedded at build time).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// One price: `usd` per `per` `unit`s.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Price {
    /// US dollars.
    pub usd: f64,
    /// How many units the price is for (1, 1000, 1000000, ...).
    pub per: f64,
    /// The unit (`GB-month`, `requests`, ...).
    pub unit: String,
    /// `seoul`, `region-free`, `us-east-1` or `unverified` (see the table's header).
    pub basis: String,
    /// Where the figure was read.
    pub source: String,
    /// What exactly the figure covers.
    pub note: String,
    /// The source's own words that give the figure, verbatim; empty where none are kept.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub quote: String,
}

/// A region's price table.
#[derive(Debug, Clone, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Prices {
    /// AWS region code.
    pub region: String,
    /// Date the table was compiled (`YYYY-MM-DD`).
    pub date: String,
    /// Currency of every figure.
    pub currency: String,
    /// Prices by key.
    pub prices: BTreeMap<String, Price>,
}

/// The table shipped with pipec.
pub const SEOUL: &str = include_str!("../prices/ap-northeast-2.toml");

/// Where the shipped table lives in the repository.
pub const SEOUL_PATH: &str = "crates/cost/prices/ap-northeast-2.toml";

impl Prices {
    /// The shipped ap-northeast-2 table.
    pub fn seoul() -> Prices {
        Prices::parse(SEOUL).expect("the shipped price table parses")
    }

    /// Parses a price table.
    pub fn parse(text: &str) -> Result<Prices, String> {
        toml::from_str(text).map_err(|e| e.to_string())
    }

    /// The price under `key`; every key the model uses is in the shipped table (tested).
    pub fn get(&self, key: &str) -> &Price {
        self.prices
            .get(key)
            .unwrap_or_else(|| panic!("price `{key}` missing from the table"))
    }
}
