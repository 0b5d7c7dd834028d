fn main() {
    limit_malloc_arenas();
    std::process::exit(orakl::cli::main());
}

/// glibc gives each thread that allocates an arena of its own (up to eight
/// per core), and an arena keeps the high-water mark of what was freed in
/// it. A replay's reader and prefetch threads allocate what the main thread
/// frees; with two arenas instead of three the 200-symbol day peaks ~5 MB
/// lower (57 instead of 61–64 MB) at the same speed. `MALLOC_ARENA_MAX` in
/// the environment still wins.
#[cfg(all(target_os = "linux", target_env = "gnu"))]
fn limit_malloc_arenas() {
    if std::env::var_os("MALLOC_ARENA_MAX").is_none() {
        // SAFETY: sets one of the allocator's tunables; no other thread
        // exists yet.
        unsafe {
            libc::mallopt(libc::M_ARENA_MAX, 2);
        }
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn limit_malloc_arenas() {}
