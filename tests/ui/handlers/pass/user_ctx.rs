// A message of the user's named `Ctx` is the message; cortex's `Ctx` is
// still an extractor under its full path or an alias.
use cortex::{subscribe, timer, Message};

#[derive(Message, Debug)]
pub struct Ctx {
    pub mode: u8,
}

#[subscribe("/a")]
async fn only_message(ctx: Ctx) {
    let _ = ctx.mode;
}

#[subscribe("/b")]
async fn with_cortex_ctx(cortex_ctx: cortex::Ctx, msg: Ctx) -> cortex::Result<()> {
    let _ = (cortex_ctx.node().name(), msg.mode);
    Ok(())
}

type NodeCtx = cortex::Ctx;

#[timer(hz = 1)]
async fn tick(ctx: NodeCtx) {
    let _ = ctx.node().name();
}

fn main() {}
