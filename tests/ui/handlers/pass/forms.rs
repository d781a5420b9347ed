use cortex::prelude::*;

#[derive(Message, Debug)]
pub struct Image {
    pub data: NdArray<u8>,
}

pub const OUT: Topic<Image> = Topic::new("/out");

#[subscribe("/a")]
async fn only_message(_img: Image) {}

#[subscribe("/b", queue = 4, node = "proc", publishes(OUT))]
async fn all_args_any_order(ctx: Ctx, header: Header, img: Image) -> cortex::Result<()> {
    let _ = header.sequence;
    ctx.publish(&OUT, img)?;
    Ok(())
}

#[subscribe("/c")]
async fn string_error(_img: Image, _h: cortex::Header) -> Result<(), String> {
    Err("nope".into())
}

#[timer(hz = 29.97)]
async fn ntsc() {}

#[timer(period_ms = 250, node = "proc")]
async fn quarter(ctx: Ctx) -> Result<(), std::io::Error> {
    let _ = ctx.node().name();
    Ok(())
}

// Named `entry` so that this test only compiles it: running it would start a node.
#[cortex::main(name = "forms", worker_threads = 1, discovery = "ipc:///tmp/cortex-ui-never-used.sock")]
async fn entry(node: Node) -> cortex::Result<()> {
    node.run().await
}

fn main() {
    let _: fn() -> std::process::ExitCode = entry;
}

// Handler and field names that match names the macros use internally.
#[timer(hz = 1)]
async fn run() {}

#[timer(hz = 1)]
async fn ctx() {}

#[derive(Message)]
pub struct Shadows {
    pub dec: f64,
    pub enc: f64,
    pub node: u32,
}
