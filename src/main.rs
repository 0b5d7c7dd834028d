fn main() {
    std::process::exit(orakl::cli::main());
}
