//! TEMPORARY: stands in for the client's lane methods until they land.
use super::*;
#[derive(Debug, Clone, Default, PartialEq)]
pub struct UnusualQuery {
    pub sip_timestamp_gte: Option<i64>,
    pub sip_timestamp_lte: Option<i64>,
    pub tickers: Vec<String>,
    pub limit: Option<u32>,
    pub max_pages: Option<usize>,
}
impl Client {
    pub fn unusual_trades(&self, _q: &UnusualQuery) -> Result<Vec<UnusualTrade>, PolygonError> {
        Ok(Vec::new())
    }
    pub fn quote_at(&self, _contract: &str, _at_ns: i64) -> Result<Option<Quote>, PolygonError> {
        Ok(None)
    }
}
