//! Query parameters as go-swagger reads them: repeated `filter=` values, booleans
//! in swag's spellings with a default, and errors in its words.

use axum::http::StatusCode;

use super::ApiError;
use crate::labels::{LabelSet, MatchType, Matcher, parse_matcher};

pub struct Params(Vec<(String, String)>);

impl Params {
    pub fn parse(raw: Option<&str>) -> Params {
        Params(
            url::form_urlencoded::parse(raw.unwrap_or("").as_bytes())
                .map(|(k, v)| (k.into_owned(), v.into_owned()))
                .collect(),
        )
    }

    pub fn all(&self, key: &str) -> impl Iterator<Item = &str> {
        self.0
            .iter()
            .filter(move |(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    pub fn one(&self, key: &str) -> Option<&str> {
        self.all(key).next()
    }

    /// A boolean parameter (openapi.yaml gives each one a default of true).
    pub fn flag(&self, key: &str, default: bool) -> Result<bool, ApiError> {
        let Some(v) = self.one(key) else {
            return Ok(default);
        };
        match v.to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" | "y" | "on" | "ok" | "enabled" | "checked" | "selected" => {
                Ok(true)
            }
            "false" | "0" | "no" | "n" | "off" | "disabled" | "" => Ok(false),
            _ => Err(ApiError::Request {
                status: StatusCode::BAD_REQUEST,
                message: format!("{key} in query must be of type bool: {v:?}"),
            }),
        }
    }

    /// Every `filter=` matcher; a bad one is a 400 naming it.
    pub fn filter(&self) -> Result<Vec<Matcher>, ApiError> {
        self.all("filter")
            .map(|f| parse_matcher(f).map_err(ApiError::BadRequest))
            .collect()
    }

    /// `receiver=`, anchored as Alertmanager anchors it.
    pub fn receiver(&self) -> Result<Option<regex::Regex>, ApiError> {
        self.one("receiver")
            .map(|r| {
                regex::Regex::new(&format!("^(?:{r})$")).map_err(|e| {
                    ApiError::BadRequest(format!("failed to parse receiver param: {e}"))
                })
            })
            .transpose()
    }
}

/// Alertmanager's `matchFilterLabels`: an empty-value `=`/`=~` matcher is also met
/// by an absent label, and an empty-value `!=`/`!~` by a present one.
pub fn filter_matches(matchers: &[Matcher], labels: &LabelSet) -> bool {
    matchers.iter().all(|m| {
        let v = labels.get(&m.name);
        let negative = matches!(m.op, MatchType::NotEqual | MatchType::NotRegexp);
        if m.value.is_empty() && (v.is_some() == negative) {
            return true;
        }
        m.matches_value(v.map_or("", String::as_str))
    })
}
