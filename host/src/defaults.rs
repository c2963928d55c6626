//! The defaults of a settings section: what its `arg` attributes say, and nothing else (not the
//! environment). Every section of [`crate::settings::Settings`] gets its `Default` here, so
//! each setting has its default in one place, beside its doc comment and flag.

/// The defaults of section `T`.
pub fn of<T: clap::Args + clap::FromArgMatches>() -> T {
    let command = T::augment_args(clap::Command::new("defaults").no_binary_name(true)).mut_args(|arg| arg.env(None));
    let parsed = command.try_get_matches_from(Vec::<String>::new()).and_then(|matches| T::from_arg_matches(&matches));
    #[expect(clippy::expect_used, reason = "the defaults are literals; a unit test parses every section's")]
    parsed.expect("the settings' defaults parse")
}
