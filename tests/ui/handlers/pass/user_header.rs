// A message of the user's named `Header` (a ROS-style `std_msgs/Header`) is
// a message like any other: arguments are told apart by type, not by name.
use cortex::prelude::*;

mod my_msgs {
    use cortex::Message;

    #[derive(Message, Debug)]
    pub struct Header {
        pub frame_id: String,
        pub stamp_ns: u64,
    }
}

#[derive(Message, Debug)]
pub struct Header {
    pub seq: u32,
}

// The user's own `Header` (the prelude's is shadowed), alone.
#[subscribe("/a")]
async fn local_header(h: Header) {
    let _ = h.seq;
}

// The user's `my_msgs::Header` as the message, cortex's as the extractor.
#[subscribe("/b")]
async fn both_headers(msg: my_msgs::Header, header: cortex::Header) {
    let _ = (msg.frame_id, header.sequence);
}

// The same, cortex's through an alias, in the other order.
type WireHeader = cortex::Header;

#[subscribe("/c")]
async fn aliased(header: WireHeader, ctx: Ctx, msg: my_msgs::Header) {
    let _ = (header.timestamp_ns, ctx.node().name(), msg.stamp_ns);
}

fn main() {}
