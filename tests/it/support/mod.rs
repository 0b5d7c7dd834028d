//! Test support shared by every integration test: loopback HTTP fakes and
//! helpers. The simulated clock is the crate's own `orakl::clock::SimClock`.
#![allow(dead_code)]

pub mod fake_http;
pub mod fake_polygon;
pub mod fixture_models;
pub mod json_schema;
pub mod logcap;
pub mod sim_day;
