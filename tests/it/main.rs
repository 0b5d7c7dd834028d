//! The one integration-test binary. Each module is one area; shared fakes
//! live in `support`.

mod batching;
mod cli;
mod crash;
mod discord;
mod episodes;
mod evaluate;
mod faults;
mod hardening;
mod invariants;
mod ops;
mod outcomes;
mod polygon;
mod prints;
mod recall;
mod replay;
mod roundtrip;
mod run_loop;
mod service;
mod simulate;
mod store;
mod support;
mod sweep;
mod systemd;
