#[cortex::main]
async fn main() -> cortex::Result<()> {
    Ok(())
}
