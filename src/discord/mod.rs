//! Discord delivery: alerts rendered into embeds within Discord's limits
//! ([`embed`]), webhook URLs parsed so their tokens never show ([`webhook`]),
//! and the blocking sender that turns status codes and rate limits into one
//! [`Delivery`] outcome ([`sender`]).
//!
//! Only the sender does IO, and only through [`crate::http::Http`] and
//! [`crate::clock::Clock`]; rendering is a pure function of the alert.

pub mod embed;
pub mod report;
pub mod sender;
pub mod webhook;

pub use embed::{check_limits, pack, render, render_batch, render_message_update, render_text, render_update_text};
pub use report::{report_message, report_payload};
pub use sender::{Attachment, Delivery, Sender};
pub use webhook::{Webhook, WebhookError};
