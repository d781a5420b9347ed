use cortex::prelude::*;

#[derive(Message, Debug)]
pub struct SetMode {
    pub mode: String,
}

#[derive(Message, Debug)]
pub struct ModeSet {
    pub previous: String,
}

pub const SET_MODE: Service<SetMode, ModeSet> = Service::new("/arm/set_mode");
pub const STATUS: Topic<ModeSet> = Topic::new("/arm/status").latched(1);

#[service("/arm/set_mode", node = "arm", publishes(STATUS))]
async fn set_mode(req: SetMode, ctx: Ctx) -> cortex::Result<ModeSet> {
    let reply = ModeSet { previous: req.mode };
    ctx.publish(&STATUS, &reply)?;
    Ok(ModeSet { previous: reply.previous })
}

#[service("/arm/describe")]
async fn without_ctx(req: SetMode) -> Result<ModeSet, String> {
    Err(req.mode)
}

#[subscribe("/arm/command")]
async fn calls(cmd: SetMode, from: PublisherId, ctx: Ctx) -> cortex::Result<()> {
    let _ = from.node();
    let _reply: ModeSet = ctx.call(&SET_MODE, cmd).await?;
    Ok(())
}

fn main() {}
