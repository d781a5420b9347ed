use cortex::prelude::*;

#[derive(Message)]
struct SetMode {
    mode: String,
}

#[service]
async fn no_name(req: SetMode) -> cortex::Result<SetMode> {
    Ok(req)
}

#[service("/a")]
async fn no_request() -> cortex::Result<SetMode> {
    todo!()
}

#[service("/b")]
async fn no_result(req: SetMode) {}

#[service("/c", queue = 3)]
fn not_async(req: SetMode) -> cortex::Result<SetMode> {
    Ok(req)
}

#[service("/d")]
async fn three(req: SetMode, ctx: Ctx, n: u32) -> cortex::Result<SetMode> {
    Ok(req)
}

#[service("/e")]
async fn wrong_second(req: SetMode, n: u32) -> cortex::Result<SetMode> {
    Ok(req)
}

#[service("arm/no_slash")]
async fn bad_name(req: SetMode) -> cortex::Result<SetMode> {
    Ok(req)
}

fn main() {}
