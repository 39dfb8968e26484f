pub static COMMANDS: &[super::CommandSpec] = &[];
