//! The one integration-test binary. Each module is one area; shared fakes
//! live in `support`.

mod support;
