pub fn main(_argv: Vec<String>) -> Result<(), String> {
    Err("todo".into())
}
