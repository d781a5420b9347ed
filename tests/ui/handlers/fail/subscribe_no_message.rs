use cortex::prelude::*;

#[subscribe("/a")]
async fn no_message(header: Header, ctx: Ctx) {}

#[subscribe("/b")]
async fn no_arguments() {}

fn main() {}
