//! The shipped unit file passes `systemd-analyze verify` without warnings
//! and rates 2.0 or lower in `systemd-analyze security`. `.ci/run` installs
//! systemd-analyze on a machine without it.

use std::path::Path;
use std::process::Command;

const UNIT: &str = include_str!("../../systemd/orakl.service");

/// The unit with ExecStart pointing at the binary under test, so `verify`
/// can check that the command exists and is executable.
fn unit_in(dir: &Path) -> std::path::PathBuf {
    let unit = UNIT.replace("/usr/local/bin/orakl", env!("CARGO_BIN_EXE_orakl"));
    let path = dir.join("orakl.service");
    std::fs::write(&path, unit).unwrap();
    path
}

#[test]
fn unit_file_has_the_required_settings() {
    for needle in [
        "Type=notify",
        "WatchdogSec=",
        "Restart=on-failure",
        "RestartPreventExitStatus=78",
        "EnvironmentFile=",
        "LoadCredential=polygon_api_key:",
        "StateDirectory=orakl",
        "DynamicUser=yes",
        "ProtectSystem=strict",
        "NoNewPrivileges=yes",
        "CapabilityBoundingSet=\n",
        "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX",
        "SystemCallFilter=@system-service",
    ] {
        assert!(UNIT.contains(needle), "unit lacks `{}`", needle.trim());
    }
}

#[test]
fn systemd_analyze_verify_prints_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_in(dir.path());
    let out = Command::new("systemd-analyze").arg("verify").arg(&unit).output().expect("systemd-analyze is installed");
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && text.trim().is_empty(), "verify:\n{text}");
}

#[test]
fn systemd_analyze_security_rates_two_or_lower() {
    let dir = tempfile::tempdir().unwrap();
    let unit = unit_in(dir.path());
    let out = Command::new("systemd-analyze")
        .args(["security", "--offline=yes", "--no-pager"])
        .arg(&unit)
        .output()
        .expect("systemd-analyze is installed");
    let text = String::from_utf8_lossy(&out.stdout);
    let line = text.lines().find(|l| l.contains("Overall exposure level")).unwrap_or_else(|| panic!("{text}"));
    let score: f64 = line
        .split(':')
        .nth(1)
        .and_then(|s| s.split_whitespace().next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no score in `{line}`"));
    assert!(score <= 2.0, "exposure {score}: {line}");
}
